/** The `gradcam` command line. */
import { getHeapStatistics } from 'node:v8';
import { EXPLAIN, runExplain } from './explain.js';
import { DETECT, runDetect } from './detect.js';
import { VIDEO, runVideo } from './video.js';
import { LAYERS, runLayers } from './layers.js';
import { SERVE, runServe } from './serve.js';
import { SANITY, runSanity } from './sanity.js';
import { EVALUATE, runEvaluate } from './evaluate.js';
import { AUDIT, MERGE, runAuditCli, runMergeCli } from './audit.js';
import { CliError, printError } from './common.js';
import { command, helpText, parseCommand, type CommandSpec } from './spec.js';

const METHODS = command({ name: 'methods', synopsis: '', summary: 'list the explanation methods', groups: [] });

/** Every command: its declaration (options, help) and what runs it. */
const COMMANDS: { spec: CommandSpec; run: (args: string[]) => Promise<number> }[] = [
  { spec: EXPLAIN, run: runExplain },
  { spec: DETECT, run: runDetect },
  { spec: VIDEO, run: runVideo },
  { spec: AUDIT, run: runAuditCli },
  { spec: MERGE, run: runMergeCli },
  { spec: LAYERS, run: runLayers },
  { spec: METHODS, run: runMethods },
  { spec: SANITY, run: runSanity },
  { spec: EVALUATE, run: runEvaluate },
  { spec: SERVE, run: runServe },
];

async function runMethods(args: string[]): Promise<number> {
  if (parseCommand(METHODS, args).values.help) {
    console.log(helpText(METHODS));
    return 0;
  }
  const { methodsText } = await import('./methods.js');
  console.log(methodsText());
  return 0;
}

/** `gradcam help`: the commands, from their declarations. */
export function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.spec.name.length));
  return `gradcam — Grad-CAM for any ONNX image model

Usage: gradcam <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.spec.name.padEnd(w)}  ${c.spec.summary}`).join('\n')}

'gradcam <command> --help' (or 'gradcam help <command>') lists a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    const c = COMMANDS.find((x) => x.spec.name === cmd);
    if (c) return await c.run(rest);
    switch (cmd) {
      case undefined: case 'help': case '--help': case '-h': {
        const sub = COMMANDS.find((x) => x.spec.name === rest[0]);
        if (sub) return await sub.run(['--help']);
        if (rest[0] !== undefined) throw new CliError(`unknown command '${rest[0]}'; commands: ${COMMANDS.map((x) => x.spec.name).join(', ')}`);
        console.log(usage());
        return cmd === undefined ? 2 : 0;
      }
      case '--version': case '-v': {
        console.log('gradcam 0.1.0');
        return 0;
      }
      default:
        throw new CliError(`unknown command '${cmd}'; commands: ${COMMANDS.map((x) => x.spec.name).join(', ')}, help`);
    }
  } catch (e) {
    printError(e);
    return e instanceof CliError && e.exitCode ? e.exitCode : 1;
  }
}

/**
 * The process entry (bin/gradcam.js): runs `main` and sets the exit status. An error that escapes every
 * handler (an exception in a callback, a rejected promise nobody awaited) is still one line on stderr
 * and a non-zero exit, never a stack trace.
 */
export async function runCli(argv: string[]): Promise<void> {
  const fatal = (e: unknown) => {
    printError(e);
    process.exit(e instanceof CliError && e.exitCode ? e.exitCode : 1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  // V8's heap limit must never be the one that trips first (a heap overflow is a native crash with a
  // stack, not an error): the budgets (pixels, voxels, masks) keep large data in typed arrays, off the
  // heap, and assume a heap of at least MIN_HEAP_MB
  const heapMb = getHeapStatistics().heap_size_limit / 2 ** 20;
  if (heapMb < MIN_HEAP_MB) {
    fatal(new CliError(`the JavaScript heap limit is ${heapMb.toFixed(0)} MB (--max-old-space-size, NODE_OPTIONS), below the ${MIN_HEAP_MB} MB that gradcam's input budgets assume; raise it`, 1));
    return;
  }
  process.exitCode = await main(argv);
}

/** The smallest V8 heap limit gradcam runs with (the budgets keep the heap's share of a run well below it). */
export const MIN_HEAP_MB = 512;
