// The models shipped in the package (models/): two classifiers of the procedural benchmark's classes,
// trained by tools/train_bundled_models.py. `--model aeq-vgg` on the command line resolves here.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PresetName } from './io/image.js';
import { InputError } from './errors.js';

export interface BundledModel {
  name: string;
  /** Absolute path of the .onnx file. */
  path: string;
  architecture: string;
  preset: PresetName;
  /** 'sigmoid': multi-label (independent probability per class); 'softmax': single-label. */
  output: 'sigmoid' | 'softmax';
  classes: string[];
  heldOut: { data: string; mAP: number; top1: number; exactMatch: number };
}

/** models/ of the package: src/ and dist/ both sit one level below the package root. */
export function modelsDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'models');
}

let cache: Map<string, BundledModel> | undefined;

export function bundledModels(): Map<string, BundledModel> {
  if (cache) return cache;
  const dir = modelsDir();
  const index = join(dir, 'models.json');
  if (!existsSync(index)) throw new InputError(`${index}: bundled model index not found (incomplete install?)`);
  const raw = JSON.parse(readFileSync(index, 'utf8')) as Record<string, Omit<BundledModel, 'name' | 'path' | 'classes'> & { file: string; classes: string }>;
  cache = new Map();
  for (const [name, m] of Object.entries(raw)) {
    const classes = readFileSync(join(dir, m.classes), 'utf8').split('\n').filter((l) => l.length);
    cache.set(name, { ...m, name, path: join(dir, m.file), classes });
  }
  return cache;
}

/** A bundled model by name, or undefined when `nameOrPath` is not one. */
export function bundledModel(nameOrPath: string): BundledModel | undefined {
  return bundledModels().get(nameOrPath);
}

/** Model path for a CLI argument: a bundled name or a file path. */
export function resolveModelPath(nameOrPath: string): string {
  const b = bundledModel(nameOrPath);
  if (b) return b.path;
  if (!existsSync(nameOrPath)) {
    throw new InputError(`${nameOrPath}: no such file (nor a bundled model: ${[...bundledModels().keys()].join(', ')})`);
  }
  return nameOrPath;
}
