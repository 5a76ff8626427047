// `aeq explain` and `aeq verify` from the command line: files, names, shapes, dtypes, errors.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PNG } from 'pngjs';
import { aeq, errorLines } from './helpers/cli.js';
import { readNpy, encodeNpy } from '../src/io/npy.js';
import { shared } from './helpers/shared.js';

let dir: string;
const resnet20 = () => shared('models/resnet20_cifar10.onnx');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aeq-cli-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

function oneErrorLine(r: ReturnType<typeof aeq>, re: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  const lines = errorLines(r);
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(re);
}

describe('aeq explain', () => {
  it('writes heatmap, overlay and npy files per (input, target) with the documented names', () => {
    const out = join(dir, 'out');
    const r = aeq(['explain', resnet20(), shared('images/cat.png'), shared('images/bird.png'), '--preset', 'cifar',
      '--top', '2', '--save-npy', '--out', out, '--backend', 'webgpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cat: predicted 3 .*explained 3, \d+ with ae at /m);
    for (const stem of ['cat', 'bird']) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`${stem}:`))!;
      const classes = line.replace(/.*explained /, '').replace(/ with.*/, '').split(', ').map(Number);
      expect(classes.length).toBe(2);
      for (const c of classes) {
        const base = join(out, `${stem}__c${c}__ae-r2`);
        const heat = PNG.sync.read(readFileSync(`${base}.png`));
        expect([heat.width, heat.height]).toEqual([32, 32]);
        const ov = PNG.sync.read(readFileSync(`${base}.overlay.png`));
        const orig = PNG.sync.read(readFileSync(shared(`images/${stem}.png`)));
        expect([ov.width, ov.height]).toEqual([orig.width, orig.height]);
        const h = readNpy(`${base}.heatmap.npy`);
        expect(h.shape).toEqual([32, 32]);
        expect(h.dtype).toBe('<f4');
        const a = readNpy(`${base}.attribution.npy`);
        expect(a.shape).toEqual([3, 32, 32]);
        expect(h.data.every(Number.isFinite)).toBe(true);
      }
    }
  });

  it('Grad-CAM and .npy inputs: heatmap npy but no attribution, no overlay', () => {
    const out = join(dir, 'gc');
    const x = new Float32Array(3 * 32 * 32).map((_, i) => Math.sin(i));
    writeFileSync(join(dir, 'sample.input.npy'), encodeNpy([1, 3, 32, 32], x));
    const r = aeq(['explain', resnet20(), join(dir, 'sample.input.npy'), '--method', 'gradcam', '--target', '5', '--save-npy', '--out', out, '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, 'sample.input__c5__gradcam.png'))).toBe(true);
    expect(existsSync(join(out, 'sample.input__c5__gradcam.overlay.png'))).toBe(false);
    expect(readNpy(join(out, 'sample.input__c5__gradcam.heatmap.npy')).shape).toEqual([32, 32]);
    expect(existsSync(join(out, 'sample.input__c5__gradcam.attribution.npy'))).toBe(false);
  });

  it('bad inputs give one clear error line', () => {
    const img = shared('images/cat.png');
    oneErrorLine(aeq(['explain', resnet20(), img, '--layer', 'no_such_layer', '--out', dir]), /unknown layer 'no_such_layer'/);
    oneErrorLine(aeq(['explain', resnet20(), img, '--target', '12', '--out', dir]), /target 12 is out of range: the model has 10 classes/);
    oneErrorLine(aeq(['explain', resnet20(), img, '--ratio', 'two', '--out', dir]), /--ratio must be a number, got 'two'/);
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    oneErrorLine(aeq(['explain', resnet20(), join(dir, 'notes.txt'), '--out', dir]), /notes\.txt: not a PNG or JPEG image/);
    oneErrorLine(aeq(['explain', resnet20(), img, '--method', 'lime', '--out', dir]), /--method must be one of ae, gradcam, /);
    oneErrorLine(aeq(['explain', resnet20(), img, '--preset', 'nope', '--out', dir]), /unknown --preset 'nope'/);
  });
});

describe('aeq verify', () => {
  it('prints per-tensor GPU vs CPU differences and exits 0 within tolerance', () => {
    const r = aeq(['verify', resnet20()]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^forward /m);
    expect(r.stdout).toMatch(/^gradient /m);
    expect(r.stdout).toMatch(/^ae /m);
    expect(r.stdout).toMatch(/tensors within tolerance/);
  });

  it('exits non-zero above tolerance', () => {
    const r = aeq(['verify', resnet20(), '--tol', '0']);
    expect(r.code).toBe(1);
    expect(errorLines(r)[0]).toMatch(/differ between GPU and CPU beyond/);
  });
});
