// The on-disk dataset format (docs/dataset-format.md): a folder with images/<id>.png,
// masks/<id>.png (8-bit grayscale, 0 = background, v = the object whose maskValue is v) and
// annotations.json. The reader is meant for users' own data too, so every check names the file,
// the image and the field that is wrong.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { decodeImage } from '../io/image.js';
import { InputError } from '../errors.js';
import { hashString } from '../rng.js';
import type { AnnotatedImage } from './scene.js';

export const FORMAT_NAME = 'aeq-dataset';
export const FORMAT_VERSION = 1;
/** Mask value for "void" pixels (unlabelled boundaries, as in VOC): neither object nor background. */
export const MASK_VOID = 255;

export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

export interface ObjectRecord {
  class: number;
  /** [x0, y0, x1, y1) in pixels, x1 and y1 exclusive. */
  box: [number, number, number, number];
  /** Object pixels / image pixels (from the mask where there is one). */
  area: number;
  difficult: boolean;
  /** The object's value in the mask PNG; null when the image has no mask. */
  maskValue: number | null;
}

export interface ImageRecord {
  id: string;
  /** Paths relative to the dataset folder. */
  file: string;
  mask: string | null;
  width: number;
  height: number;
  split: Split;
  /** Sorted distinct class indices. */
  labels: number[];
  objects: ObjectRecord[];
  watermark?: boolean;
  grid?: { rows: number; cols: number; cells: number[] };
}

export interface Annotations {
  format: typeof FORMAT_NAME;
  version: number;
  classes: string[];
  images: ImageRecord[];
  /** Free-form provenance (the generator writes its seed and settings here). */
  generator?: Record<string, unknown>;
}

export interface Dataset extends Annotations {
  /** Absolute folder path. */
  dir: string;
}

/** 70 / 15 / 15 by a hash of the id: stable under adding or removing other images. */
export function splitFor(id: string): Split {
  const h = hashString(id) % 100;
  return h < 70 ? 'train' : h < 85 ? 'val' : 'test';
}

// ---------------------------------------------------------------------------------------------
// Writing

export function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Buffer {
  if (rgb.length !== width * height * 3) throw new InputError(`RGB buffer has ${rgb.length} bytes, expected ${width}×${height}×3`);
  return PNG.sync.write({ width, height, data: Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength) } as PNG, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

export function encodeMaskPng(mask: Uint8Array, width: number, height: number): Buffer {
  if (mask.length !== width * height) throw new InputError(`mask has ${mask.length} bytes, expected ${width}×${height}`);
  return PNG.sync.write({ width, height, data: Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength) } as PNG, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/** Writes images and masks as they come and annotations.json on `finish`. */
export class DatasetWriter {
  readonly dir: string;
  private readonly images: ImageRecord[] = [];
  private readonly ids = new Set<string>();

  constructor(dir: string, readonly classes: string[], readonly generator?: Record<string, unknown>) {
    this.dir = resolve(dir);
    mkdirSync(join(this.dir, 'images'), { recursive: true });
    mkdirSync(join(this.dir, 'masks'), { recursive: true });
  }

  add(id: string, img: AnnotatedImage, split: Split = splitFor(id)): ImageRecord {
    if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new InputError(`image id '${id}' must use only letters, digits, '.', '_' and '-'`);
    if (this.ids.has(id)) throw new InputError(`duplicate image id '${id}'`);
    this.ids.add(id);
    const file = `images/${id}.png`, mask = `masks/${id}.png`;
    writeFileSync(join(this.dir, file), encodeRgbPng(img.rgb, img.width, img.height));
    writeFileSync(join(this.dir, mask), encodeMaskPng(img.mask, img.width, img.height));
    const rec: ImageRecord = {
      id, file, mask, width: img.width, height: img.height, split,
      labels: [...img.labels],
      objects: img.objects.map((o) => ({ class: o.class, box: [...o.box], area: o.area, difficult: o.difficult, maskValue: o.maskValue })),
      watermark: img.watermark,
    };
    if (img.grid) rec.grid = { rows: img.grid.rows, cols: img.grid.cols, cells: [...img.grid.cells] };
    this.images.push(rec);
    return rec;
  }

  finish(): Annotations {
    const ann: Annotations = { format: FORMAT_NAME, version: FORMAT_VERSION, classes: [...this.classes], images: this.images };
    if (this.generator) ann.generator = this.generator;
    writeFileSync(join(this.dir, 'annotations.json'), JSON.stringify(ann, null, 1) + '\n');
    return ann;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface ReadOptions {
  /** Check that every image and mask file exists (default true). */
  checkFiles?: boolean;
}

/** Read and validate annotations.json (structure and files; pixels are read by loadImage/loadMask). */
export function readDataset(dir: string, opts: ReadOptions = {}): Dataset {
  const root = resolve(dir);
  const path = join(root, 'annotations.json');
  if (!existsSync(path)) throw new InputError(`${path}: not found (a dataset folder needs annotations.json, see docs/dataset-format.md)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const ann = validateAnnotations(raw, path, root, opts.checkFiles ?? true);
  return { ...ann, dir: root };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Validate parsed annotations; `where` prefixes every message (the file path). */
export function validateAnnotations(raw: unknown, where: string, root?: string, checkFiles = false): Annotations {
  const fail = (msg: string): never => {
    throw new InputError(`${where}: ${msg}`);
  };
  if (!isObj(raw)) fail('top level must be an object with "classes" and "images"');
  const top = raw as Record<string, unknown>;
  if (top.format !== undefined && top.format !== FORMAT_NAME) fail(`"format" is '${String(top.format)}', expected '${FORMAT_NAME}'`);
  const version = top.version ?? FORMAT_VERSION;
  if (!isInt(version) || version < 1 || version > FORMAT_VERSION) fail(`"version" ${JSON.stringify(top.version)} is not supported (this reader knows version ${FORMAT_VERSION})`);
  const classes = top.classes;
  if (!Array.isArray(classes) || classes.length === 0) fail('"classes" must be a non-empty array of class names');
  (classes as unknown[]).forEach((c, i) => {
    if (typeof c !== 'string' || c.length === 0) fail(`classes[${i}] must be a non-empty string`);
  });
  const names = classes as string[];
  const dup = names.find((c, i) => names.indexOf(c) !== i);
  if (dup !== undefined) fail(`class name '${dup}' appears twice in "classes"`);
  if (!Array.isArray(top.images)) fail('"images" must be an array');
  const seen = new Set<string>();
  const images = (top.images as unknown[]).map((im, i) => {
    const rec = validateImage(im, i, names.length, where, root, checkFiles);
    if (seen.has(rec.id)) fail(`images[${i}]: duplicate id '${rec.id}'`);
    seen.add(rec.id);
    return rec;
  });
  const ann: Annotations = { format: FORMAT_NAME, version: version as number, classes: names, images };
  if (isObj(top.generator)) ann.generator = top.generator;
  return ann;
}

function validateImage(raw: unknown, i: number, nClasses: number, where: string, root: string | undefined, checkFiles: boolean): ImageRecord {
  let label = `images[${i}]`;
  const fail = (msg: string): never => {
    throw new InputError(`${where}: ${label}: ${msg}`);
  };
  if (!isObj(raw)) fail('must be an object');
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== 'string' || r.id.length === 0) fail('"id" must be a non-empty string');
  const id = r.id as string;
  label += ` (id '${id}')`;
  const file = r.file ?? `images/${id}.png`;
  if (typeof file !== 'string' || file.length === 0) fail('"file" must be a path relative to the dataset folder');
  if (!isInt(r.width) || !isInt(r.height) || (r.width as number) < 1 || (r.height as number) < 1) fail(`"width" and "height" must be positive integers, got ${JSON.stringify(r.width)}×${JSON.stringify(r.height)}`);
  const W = r.width as number, H = r.height as number;
  let mask: string | null = null;
  if (r.mask === undefined) mask = root && existsSync(join(root, 'masks', `${id}.png`)) ? `masks/${id}.png` : null;
  else if (r.mask === null || (typeof r.mask === 'string' && r.mask.length > 0)) mask = r.mask as string | null;
  else fail('"mask" must be a path relative to the dataset folder, or null');
  if (checkFiles && root) {
    for (const [what, p] of [['image', file], ['mask', mask]] as const) {
      if (p !== null && !existsSync(join(root, p as string))) fail(`${what} file '${p}' not found in ${root}`);
    }
  }
  const split = r.split ?? splitFor(id);
  if (!SPLITS.includes(split as Split)) fail(`"split" must be one of ${SPLITS.join(', ')}, got ${JSON.stringify(r.split)}`);
  if (!Array.isArray(r.labels)) fail('"labels" must be an array of class indices');
  const labels = r.labels as unknown[];
  labels.forEach((c, j) => {
    if (!isInt(c) || c < 0 || c >= nClasses) fail(`labels[${j}] = ${JSON.stringify(c)} is not a class index in 0..${nClasses - 1}`);
  });
  if (new Set(labels).size !== labels.length) fail(`"labels" has duplicates: ${JSON.stringify(labels)}`);
  const objectsRaw = r.objects ?? [];
  if (!Array.isArray(objectsRaw)) fail('"objects" must be an array');
  const values = new Set<number>();
  const objects = (objectsRaw as unknown[]).map((o, j): ObjectRecord => {
    const ofail = (msg: string): never => fail(`objects[${j}]: ${msg}`);
    if (!isObj(o)) ofail('must be an object');
    const ob = o as Record<string, unknown>;
    if (!isInt(ob.class) || ob.class < 0 || ob.class >= nClasses) ofail(`"class" ${JSON.stringify(ob.class)} is not a class index in 0..${nClasses - 1}`);
    const box = ob.box;
    if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => typeof v === 'number' && Number.isFinite(v))) ofail(`"box" must be [x0, y0, x1, y1], got ${JSON.stringify(box)}`);
    const [x0, y0, x1, y1] = box as number[];
    if (!(x0 >= 0 && y0 >= 0 && x1 <= W && y1 <= H && x0 < x1 && y0 < y1)) ofail(`"box" [${x0}, ${y0}, ${x1}, ${y1}] is empty or outside the ${W}×${H} image`);
    if (typeof ob.area !== 'number' || !(ob.area >= 0 && ob.area <= 1)) ofail(`"area" must be a fraction of the image in [0, 1], got ${JSON.stringify(ob.area)}`);
    if (typeof ob.difficult !== 'boolean') ofail(`"difficult" must be true or false, got ${JSON.stringify(ob.difficult)}`);
    const mv = ob.maskValue ?? null;
    if (mv !== null) {
      if (!isInt(mv) || mv < 1 || mv >= MASK_VOID) ofail(`"maskValue" must be an integer in 1..${MASK_VOID - 1}, got ${JSON.stringify(mv)}`);
      if (values.has(mv as number)) ofail(`"maskValue" ${mv} is used by another object of this image`);
      if (mask === null) ofail(`"maskValue" ${mv} given but the image has no mask`);
      values.add(mv as number);
    }
    if (!labels.includes(ob.class)) ofail(`class ${ob.class} is not in the image's "labels" ${JSON.stringify(labels)}`);
    return { class: ob.class as number, box: [x0, y0, x1, y1], area: ob.area as number, difficult: ob.difficult as boolean, maskValue: mv as number | null };
  });
  if (objects.length > 0) {
    const missing = (labels as number[]).filter((c) => !objects.some((o) => o.class === c));
    if (missing.length) fail(`labels ${JSON.stringify(missing)} have no object (every label needs a box when objects are given)`);
  }
  const rec: ImageRecord = {
    id, file: file as string, mask, width: W, height: H, split: split as Split,
    labels: (labels as number[]).slice().sort((a, b) => a - b), objects,
  };
  if (r.watermark !== undefined) {
    if (typeof r.watermark !== 'boolean') fail('"watermark" must be true or false');
    rec.watermark = r.watermark as boolean;
  }
  if (r.grid !== undefined) rec.grid = validateGrid(r.grid, rec, fail);
  return rec;
}

function validateGrid(raw: unknown, rec: ImageRecord, fail: (m: string) => never): ImageRecord['grid'] {
  if (!isObj(raw)) fail('"grid" must be { rows, cols, cells }');
  const g = raw as Record<string, unknown>;
  if (!isInt(g.rows) || !isInt(g.cols) || g.rows < 1 || g.cols < 1) fail('"grid" rows and cols must be positive integers');
  const rows = g.rows as number, cols = g.cols as number;
  if (rec.width % cols !== 0 || rec.height % rows !== 0) fail(`"grid" ${rows}×${cols} does not divide the ${rec.width}×${rec.height} image evenly`);
  if (!Array.isArray(g.cells) || g.cells.length !== rows * cols) fail(`"grid.cells" must list ${rows * cols} class indices (row-major)`);
  const cells = g.cells as unknown[];
  cells.forEach((c, k) => {
    if (!isInt(c) || !rec.labels.includes(c)) fail(`grid.cells[${k}] = ${JSON.stringify(c)} is not one of the image's labels ${JSON.stringify(rec.labels)}`);
  });
  if (new Set(cells).size !== cells.length) fail(`"grid.cells" must be distinct classes, got ${JSON.stringify(cells)}`);
  return { rows, cols, cells: cells as number[] };
}

/** Decode an image of the dataset (PNG or JPEG) and check it has the recorded size. */
export function loadImage(ds: Dataset, rec: ImageRecord): { rgb: Uint8Array; width: number; height: number } {
  const path = join(ds.dir, rec.file);
  if (!existsSync(path)) throw new InputError(`${path}: image file of '${rec.id}' not found`);
  const img = decodeImage(readFileSync(path), path);
  if (img.width !== rec.width || img.height !== rec.height) {
    throw new InputError(`${path}: image is ${img.width}×${img.height} but annotations.json says ${rec.width}×${rec.height} for '${rec.id}'`);
  }
  return { rgb: img.rgb, width: img.width, height: img.height };
}

/** Decode an image's mask (null when it has none) and check size, encoding and values. */
export function loadMask(ds: Dataset, rec: ImageRecord): Uint8Array | null {
  if (rec.mask === null) return null;
  const path = join(ds.dir, rec.mask);
  if (!existsSync(path)) throw new InputError(`${path}: mask file of '${rec.id}' not found`);
  const mask = decodeMaskPng(readFileSync(path), path);
  if (mask.width !== rec.width || mask.height !== rec.height) {
    throw new InputError(`${path}: mask is ${mask.width}×${mask.height} but annotations.json says ${rec.width}×${rec.height} for '${rec.id}'`);
  }
  const allowed = new Set<number>([0, MASK_VOID, ...rec.objects.map((o) => o.maskValue).filter((v): v is number => v !== null)]);
  const counts = new Map<number, number>();
  for (const v of mask.data) counts.set(v, (counts.get(v) ?? 0) + 1);
  for (const v of counts.keys()) {
    if (!allowed.has(v)) throw new InputError(`${path}: mask value ${v} (${counts.get(v)} pixels) belongs to no object of '${rec.id}' (maskValues: ${[...allowed].filter((a) => a !== 0 && a !== MASK_VOID).join(', ') || 'none'})`);
  }
  return mask.data;
}

/** Decode an 8-bit single-channel PNG; palette and 16-bit masks are refused with a hint. */
export function decodeMaskPng(bytes: Uint8Array, path: string): { width: number; height: number; data: Uint8Array } {
  let png: PNG & { depth?: number; palette?: boolean; colorType?: number };
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new InputError(`${path}: not a readable PNG (${(e as Error).message})`);
  }
  if (png.palette) throw new InputError(`${path}: mask is a palette PNG; masks must be 8-bit grayscale with the object's maskValue as the pixel value`);
  if (png.depth !== 8) throw new InputError(`${path}: mask has bit depth ${png.depth}; masks must be 8-bit grayscale`);
  const { width, height, data: rgba } = png;
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) {
    const v = rgba[i * 4];
    if (rgba[i * 4 + 1] !== v || rgba[i * 4 + 2] !== v) {
      throw new InputError(`${path}: mask pixel (${i % width}, ${Math.floor(i / width)}) is coloured; masks must be 8-bit grayscale`);
    }
    data[i] = v;
  }
  return { width, height, data };
}

/**
 * Consistency of one image's annotations with its mask: every object's mask pixels lie inside its
 * box and their count matches its area. Returns problems (empty when consistent). Box tightness is
 * not required: hand-drawn boxes around masks are usually a little loose.
 */
export function checkMask(rec: ImageRecord, mask: Uint8Array, areaTolerance = 0.5 / (rec.width * rec.height)): string[] {
  const problems: string[] = [];
  for (const [j, o] of rec.objects.entries()) {
    if (o.maskValue === null) continue;
    let n = 0, outside = 0;
    const [x0, y0, x1, y1] = o.box;
    for (let p = 0; p < mask.length; p++) {
      if (mask[p] !== o.maskValue) continue;
      n++;
      const x = p % rec.width, y = Math.floor(p / rec.width);
      if (x < x0 || x >= x1 || y < y0 || y >= y1) outside++;
    }
    const what = `'${rec.id}' objects[${j}] (maskValue ${o.maskValue})`;
    if (n === 0) problems.push(`${what}: no pixels in the mask`);
    if (outside) problems.push(`${what}: ${outside} mask pixels outside its box [${o.box.join(', ')}]`);
    const area = n / (rec.width * rec.height);
    if (Math.abs(area - o.area) > areaTolerance) problems.push(`${what}: mask area ${area.toFixed(5)} but "area" says ${o.area.toFixed(5)}`);
  }
  return problems;
}
