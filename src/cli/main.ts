// The `aeq` command line. Every failure ends as one line on stderr and a non-zero exit code.
import { AeqError, UsageError, printable } from '../errors.js';
import { HelpRequest, type CommandSpec } from './args.js';
import { infoCommand, INFO } from './info.js';
import { runCommand, RUN } from './run.js';
import { explainCommand, EXPLAIN } from './explain.js';
import { verifyCommand, VERIFY } from './verify.js';
import { benchCommand, BENCH } from './bench.js';
import { datasetCommand, DATASET } from './dataset.js';
import { evalCommand, EVAL } from './eval.js';
import { demoCommand, DEMO } from './demo.js';

const USAGE = `usage: aeq <command> [options]

commands:
  demo [--out DIR] [--backend B] [--models aeq-vgg,aeq-resnet] [--samples DIR]
                                             explain the bundled samples with the bundled models → out/index.html
  info <model.onnx>                          inputs, outputs, ops, parameters, unsupported ops, default layer
  run <model.onnx> --input [name=]x.npy …    forward pass; writes every output to --out DIR as .npy
      [--backend webgpu|cpu|auto] [--max-memory SIZE] --out DIR
  explain <model.onnx> <inputs…>            attribution heatmaps for images (PNG/JPEG) or .npy tensors
      [--method ae|gradcam] [--target top|N|N,M] [--top K] [--ratio R] [--layer NAME]
      [--method gradient|input-x-gradient|ig|smoothgrad|guided-bp] [--steps M] [--baseline zero|FILE.npy]
      [--samples S] [--noise σ] [--seed N] [--magnitude]
      [--residual main|proportional] [--no-shift] [--no-contrib] [--no-activated] [--no-inactivated]
      [--preset imagenet|imagenet-direct|caffe-bgr|inception|cifar] [--mean a,b,c] [--std a,b,c] [--bgr] [--scale S]
      [--labels FILE] [--backend webgpu|cpu|auto] [--batch B] [--out DIR] [--save-npy] [--max-memory SIZE]
  verify <model.onnx> [inputs…] [--tol 1e-4] GPU vs CPU per tensor: forward, gradient and AE walks
  bench <model.onnx> [--batch N] [--method forward|ae|gradcam] [--backend B]…  time one model
  dataset --out DIR [--count N] [--seed S] [--size 224|WxH] [--kind scenes|mosaics]
                                             write the procedural ground-truth benchmark
  eval <metrics|all> --model M --data DIR [--methods ae:1,ae:2,gradcam,ig:16,… | --sweep | --ablation]
      [--split S] [--limit N] [--batch B] [--tolerance 15] [--json] [--out FILE]
                                             attribution quality (pointing game, GridPG, outside–inside,
                                             energy PG, insertion/deletion, sanity, accuracy)

aeq <command> --help (or -h, or aeq help <command>) lists the command's options with their meanings.

models: an .onnx file or a bundled model by name (aeq-vgg, aeq-resnet). --max-memory SIZE (e.g. 512M,
4G; run, explain, verify, bench, eval): the memory budget of one pass, default half the available memory.
exit codes: 0 success, 1 bad input, model or option value, 2 usage (unknown option, missing argument
or value, malformed value), 3 internal error.
environment: AEQ_REQUIRE_GPU=1 fails instead of falling back to the CPU; AEQ_DUMP_WGSL=1|DIR dumps
generated WGSL; AEQ_DEBUG=1 prints stack traces.`;

/** Every command: its entry point and its spec (options and usage, for -h/--help). */
export const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; spec: CommandSpec }> = {
  info: { run: infoCommand, spec: INFO },
  run: { run: runCommand, spec: RUN },
  explain: { run: explainCommand, spec: EXPLAIN },
  verify: { run: verifyCommand, spec: VERIFY },
  bench: { run: benchCommand, spec: BENCH },
  dataset: { run: datasetCommand, spec: DATASET },
  eval: { run: evalCommand, spec: EVAL },
  demo: { run: demoCommand, spec: DEMO },
};

/**
 * The exit-code contract: 1 for bad input, model or option value (every typed error), 2 for a
 * malformed command line (UsageError), 3 for anything else (an internal error: a bug).
 */
export function exitCode(err: unknown): 1 | 2 | 3 {
  return err instanceof UsageError ? 2 : err instanceof AeqError ? 1 : 3;
}

/** The one stderr line for an error: names from files are escaped, so the line stays one line. */
export function errorLine(err: unknown): string {
  const e = err instanceof Error ? err : new Error(String(err));
  return printable(e instanceof AeqError ? e.message : `internal error: ${e.message}`);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'help' && rest.length === 1 && COMMANDS[rest[0]]) {
    process.stdout.write(COMMANDS[rest[0]].spec.usage + '\n');
    return 0;
  }
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  const command = COMMANDS[cmd];
  if (!command) {
    process.stderr.write(`aeq: unknown command '${cmd}'\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    // -h/--help: the command's usage on stdout, a success.
    if (e instanceof HelpRequest) {
      process.stdout.write(e.usage + '\n');
      return 0;
    }
    const err = e as Error;
    if (process.env.AEQ_DEBUG === '1') process.stderr.write(`${err.stack}\n`);
    process.stderr.write(`aeq: ${errorLine(err)}\n`);
    return exitCode(err);
  }
}
