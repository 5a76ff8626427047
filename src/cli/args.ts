// Argument parsing on node:util's parseArgs, with errors rephrased as one clear line. A malformed
// command line (unknown option, missing value, wrong value form) is a UsageError: exit code 2.
// Every command declares itself as a CommandSpec (name, usage text, options); `-h`/`--help`
// anywhere on its command line asks for the usage, which main prints to stdout (exit code 0).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OptionError, UsageError } from '../errors.js';

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** A command's options and its usage text (every option named with a one-line meaning). */
export interface CommandSpec {
  name: string;
  usage: string;
  options: Options;
}

/** Thrown by `parse` for `-h`/`--help`: not a failure; main prints the usage to stdout and exits 0. */
export class HelpRequest extends Error {
  constructor(readonly usage: string) {
    super('help requested');
    this.name = 'HelpRequest';
  }
}

/** The usage's first line as a UsageError: for a command line missing its arguments. */
export function usageError(spec: CommandSpec): UsageError {
  return new UsageError(spec.usage.split('\n')[0]);
}

/** Whether a token is an option that takes its value from the next token. */
function takesValue(tok: string, options: Options): boolean {
  if (tok.startsWith('--')) {
    if (tok.includes('=')) return false;
    return options[tok.slice(2)]?.type === 'string';
  }
  if (/^-[A-Za-z]$/.test(tok)) return Object.values(options).some((o) => o.short === tok[1] && o.type === 'string');
  return false;
}

/** `-h` or `--help` as an option of its own (not an option's value, not after `--`). */
export function wantsHelp(argv: string[], options: Options): boolean {
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === '--') return false;
    if (tok === '-h' || tok === '--help') return true;
    if (takesValue(tok, options)) i++;
  }
  return false;
}

/** A token that reads as a negative number: `-1`, `-0.5`, `-1e3`, `-.5`. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * parseArgs treats `--ratio -1` as a missing value followed by an unknown option `-1`. A value
 * that starts with '-' and a digit, right after an option that takes a value, is that option's
 * value: rewrite the pair as `--ratio=-1` so that our own validation sees it.
 */
export function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (takesValue(tok, options) && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(tok.startsWith('--') ? `${tok}=${next}` : `${tok}${next}`);
      i++;
    } else {
      out.push(tok);
    }
  }
  return out;
}

/** Parse a command's arguments; `-h`/`--help` throws HelpRequest with the command's usage. */
export function parse(argv: string[], spec: CommandSpec): Parsed {
  const { options, name: command } = spec;
  if (wantsHelp(argv, options)) throw new HelpRequest(spec.usage);
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    const msg = (e as Error).message
      .replace(/\. To specify a positional argument.*$/s, '')
      .replace(/^Unknown option/, 'unknown option')
      .replace(/^Option '([^']*)' argument missing/, "option '$1' needs a value")
      .replace(/\s+$/, '');
    throw new UsageError(`${command}: ${msg} (aeq ${command} --help lists the options)`);
  }
}

/** A number-valued option; a value that is not a number is a usage error (exit 2). */
export function numberOpt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${name} must be a number, got '${v}'`);
  return n;
}

/** A positive integer option (counts, batch sizes): not a number is a usage error, a number out of range an OptionError. */
export function positiveIntOpt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = numberOpt(v, name, dflt);
  if (!Number.isInteger(n) || n < 1) throw new OptionError(`${name} must be a positive integer, got '${v}'`);
  return n;
}

const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `--max-memory`: bytes, with an optional K/M/G/T suffix (binary units; `KB`, `MiB` are accepted too). */
export function bytesOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(v);
  if (!m) throw new UsageError(`${name} must be a size in bytes with an optional K/M/G suffix (e.g. 512M, 4G), got '${v}'`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2].toUpperCase()]);
  if (!(bytes >= 1)) throw new UsageError(`${name} must be at least 1 byte, got '${v}'`);
  return bytes;
}
