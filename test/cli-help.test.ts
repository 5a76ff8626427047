// `aeq <command> --help` / `-h` / `aeq help <command>`: every command prints its usage, naming
// every option it accepts, to stdout and exits 0; unknown options still exit 2. In-process.
import { describe, it, expect } from 'vitest';
import { aeqInProcess } from './helpers/cli.js';
import { COMMANDS } from '../src/cli/main.js';

const names = Object.keys(COMMANDS);

describe('aeq <command> --help', () => {
  it('covers every command', () => {
    expect(names.sort()).toEqual(['bench', 'dataset', 'demo', 'eval', 'explain', 'info', 'run', 'verify']);
  });

  it.each(names)('%s: --help, -h and `aeq help %s` print the usage, naming every option, exit 0', async (cmd) => {
    const { spec } = COMMANDS[cmd];
    expect(spec.name).toBe(cmd);
    for (const args of [[cmd, '--help'], [cmd, '-h'], ['help', cmd]]) {
      const r = await aeqInProcess(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${spec.usage}\n`);
    }
    expect(spec.usage).toMatch(new RegExp(`^usage: aeq ${cmd} `));
    for (const [opt, o] of Object.entries(spec.options)) {
      // Each option on a line of the usage with words after it (its meaning).
      const line = spec.usage.split('\n').find((l) => new RegExp(`--${opt}(?![\\w-])`).test(l));
      expect(line, `${cmd} --help names --${opt}`).toBeDefined();
      if (o.short) expect(spec.usage, `${cmd} --help names -${o.short}`).toMatch(new RegExp(`-${o.short}, --${opt}`));
    }
    expect(spec.usage).toMatch(/-h, --help/);
  });

  it.each(names)('%s: --help wins over the rest of the command line and runs nothing', async (cmd) => {
    const r = await aeqInProcess([cmd, 'no-such-model.onnx', '--out', '/nonexistent/x', '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${COMMANDS[cmd].spec.usage}\n`);
  });

  it.each(names)('%s: an unknown option still exits 2 with one line naming it', async (cmd) => {
    const r = await aeqInProcess([cmd, '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^aeq: ${cmd}: unknown option '--bogus' \\(aeq ${cmd} --help lists the options\\)\\n$`));
  });

  it('--help as an option value or after -- is not a help request', async () => {
    // `--out --help`: parseArgs refuses the option-like value (usage error), it is not help.
    const r = await aeqInProcess(['dataset', '--out', '--help']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const p = await aeqInProcess(['info', '--', '--help']);
    expect(p.code).toBe(1);
    expect(p.stdout).toBe('');
  });

  it('the top-level usage points to the per-command help', async () => {
    const r = await aeqInProcess(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/aeq <command> --help/);
    expect((await aeqInProcess([])).code).toBe(2);
    expect((await aeqInProcess(['nope', '--help'])).code).toBe(2);
  });
});
