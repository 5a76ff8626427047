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
const byModel = new Map();
for (const file of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
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
