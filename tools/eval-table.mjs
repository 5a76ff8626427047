// The README's every-method tables from tools/eval-methods.sh's JSON results: one table per model,
// a row per method in the order the methods were listed there, the same columns for every row.
//   node tools/eval-table.mjs DIR
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) { console.error('usage: node tools/eval-table.mjs DIR'); process.exit(2); }
const COLS = [
  ['PG-L tol15', 'PG-L tol15', (s) => `${f(s['PG-L tol15'])} (${f(s['PG-L'])})`],
  ['PG-L difficult', 'PG-L difficult tol15', (s) => f(s['PG-L difficult tol15'])],
  ['PG-P tol15', 'PG-P tol15', (s) => f(s['PG-P tol15'])],
  ['PR', 'PR', (s) => f(s.PR)],
  ['outside/inside ↓', 'outside/inside', (s) => f(s['outside/inside'])],
  ['energy PG', 'energy PG', (s) => f(s['energy PG'])],
];
const f = (x) => (x === undefined || x === null || Number.isNaN(x) ? '—' : x.toFixed(3));
// Rows in the paper's order: AE, the CAM family, the gradient family, LRP, excitation backprop.
const ORDER = ['ae_1', 'ae_2', 'gradcam', 'gradcam++', 'layercam', 'scorecam', 'scorecam_softmax-gain', 'fullgrad',
  'gradient', 'input-x-gradient', 'guided-bp', 'ig', 'smoothgrad',
  'lrp_epsilon-plus', 'lrp_epsilon-plus-flat', 'lrp_epsilon-gamma-box', 'lrp_epsilon-alpha2-beta1', 'eb', 'ceb'];
const rank = (file) => {
  const stem = file.split('.').slice(1, -1).join('.');
  const i = ORDER.indexOf(stem);
  return i < 0 ? ORDER.length : i;
};
const byModel = new Map();
for (const file of readdirSync(dir).filter((n) => n.endsWith('.json')).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) {
  const r = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const model = file.split('.')[0];
  if (!byModel.has(model)) byModel.set(model, []);
  for (const m of r.methods) byModel.get(model).push({ label: m.label, scores: m.scores, images: r.images, targets: r.targets, seconds: r.seconds, mtime: file });
}
for (const [model, rows] of byModel) {
  const { images, targets } = rows[0];
  console.log(`**${model}** (${images} images, ${targets} targets)\n`);
  console.log(`| method | ${COLS.map((c) => c[0]).join(' | ')} | s |`);
  console.log(`|---|${COLS.map(() => '---:').join('|')}|---:|`);
  for (const r of rows) console.log(`| ${r.label} | ${COLS.map((c) => c[2](r.scores)).join(' | ')} | ${r.seconds.toFixed(0)} |`);
  console.log('');
}
