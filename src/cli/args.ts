// Argument parsing on node:util's parseArgs, with errors rephrased as one clear line.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OptionError } from '../errors.js';

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>, command: string): Parsed {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/^Unknown option/, 'unknown option');
    throw new OptionError(`${command}: ${msg}`);
  }
}

export function numberOpt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new OptionError(`${name} must be a number, got '${v}'`);
  return n;
}
