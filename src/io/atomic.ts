// Every file aeq writes goes through here: written under a temporary name in the same folder, then
// renamed over the target, so an interrupted run never leaves a torn file that looks complete.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError } from '../errors.js';

const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Write `data` to `path` atomically (temporary file in the same folder + rename). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (existsSync(path) && statSync(path).isDirectory()) throw new InputError(`${path}: cannot write the file, a folder of that name exists`);
    throw new InputError(`${path}: cannot write (${errCode(e)})`);
  }
}

/** Create an output folder, or refuse (typed) when the path exists and is not a folder. */
export function ensureDir(dir: string, option = '--out'): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new InputError(`${option} '${dir}' exists and is not a folder`);
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new InputError(`${option} '${dir}': cannot create the folder (${errCode(e)})`);
  }
}
