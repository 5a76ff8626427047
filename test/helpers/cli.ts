// Run the real CLI (bin/aeq.mjs builds the bundle when stale) and capture its result.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/aeq.mjs', import.meta.url));

export interface CliResult { code: number; stdout: string; stderr: string }

export function aeq(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** stderr lines that are aeq's own (Dawn prints driver warnings of its own on some adapters). */
export function errorLines(r: CliResult): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('aeq:'));
}
