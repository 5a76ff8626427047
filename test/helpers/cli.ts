// Run the real CLI (bin/aeq.mjs builds the bundle when stale) and capture its result.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';

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

/** The CLI in-process (src/cli/main.ts's main), stdout and stderr captured: fast, no bundle. */
export async function aeqInProcess(args: string[]): Promise<CliResult> {
  const { main } = await import('../../src/cli/main.js');
  let stdout = '', stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { stdout += String(s); return true; });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { stderr += String(s); return true; });
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
