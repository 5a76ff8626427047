#!/usr/bin/env node
// Runs the bundled CLI, building it first when the bundle is missing or older than the sources
// (npm installs with scripts disabled, see .npmrc, so there is no prepare step to rely on).
import { existsSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'cli.js');

function newestSource(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return t;
}

const stale = !existsSync(bundle) ||
  statSync(bundle).mtimeMs < newestSource(join(root, 'src'));
if (stale) await import(pathToFileURL(join(root, 'tools', 'build.mjs')).href);
const { main } = await import(pathToFileURL(bundle).href);
process.exitCode = await main(process.argv.slice(2));
