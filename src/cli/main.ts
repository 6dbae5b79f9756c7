/** The `gradcam` command line. */
import { runExplain } from './explain.js';
import { runDetect } from './detect.js';
import { runLayers } from './layers.js';
import { runServe } from './serve.js';
import { runSanity } from './sanity.js';
import { runEvaluate } from './evaluate.js';
import { runAuditCli, runMergeCli } from './audit.js';
import { CliError, printError } from './common.js';

const USAGE = `gradcam — Grad-CAM for any ONNX image model

Usage:
  gradcam explain <images|.npy...> --model FILE [options]   explain images, write overlays and maps
  gradcam detect <images...> --model FILE [options]         explain every detection of a detector, box by box
  gradcam audit <folders|'globs'|manifests...> --model FILE  explain a dataset: resumable, batched,
                                                            HTML/CSV report, bias audit with boxes/masks
  gradcam merge <audit folders...> --out DIR                combine the shards of an audit into one report
  gradcam layers --model FILE [--size HxW]                  list candidate layers (auto choice marked)
  gradcam methods                                           list the explanation methods
  gradcam serve [--port N]                                  the browser app (nothing leaves your computer)
  gradcam sanity <image...> --model FILE [options]          model-randomisation sanity check of the methods
  gradcam evaluate <images|dir> --model FILE [options]      faithfulness and localisation metrics per method
  gradcam help [command]

Run 'gradcam help explain' for the explain options.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'explain': return await runExplain(rest);
      case 'detect': return await runDetect(rest);
      case 'layers': return await runLayers(rest);
      case 'serve': return await runServe(rest);
      case 'sanity': return await runSanity(rest);
      case 'evaluate': return await runEvaluate(rest);
      case 'audit': return await runAuditCli(rest);
      case 'merge': return await runMergeCli(rest);
      case 'methods': {
        const { CAM_METHODS } = await import('../cam/index.js');
        const { GRADIENT_METHODS } = await import('../cam/guided.js');
        for (const m of Object.values(CAM_METHODS)) console.log(`${m.name.padEnd(20)} ${m.description}`);
        for (const [name, d] of Object.entries(GRADIENT_METHODS)) console.log(`${name.padEnd(20)} ${d}`);
        return 0;
      }
      case undefined: case 'help': case '--help': case '-h': {
        if (rest[0] === 'explain') return await runExplain(['--help']);
        if (rest[0] === 'detect') return await runDetect(['--help']);
        if (rest[0] === 'layers') return await runLayers(['--help']);
        if (rest[0] === 'serve') return await runServe(['--help']);
        if (rest[0] === 'sanity') return await runSanity(['--help']);
        if (rest[0] === 'evaluate') return await runEvaluate(['--help']);
        if (rest[0] === 'audit') return await runAuditCli(['--help']);
        if (rest[0] === 'merge') return await runMergeCli(['--help']);
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      }
      case '--version': case '-v': {
        console.log('gradcam 0.1.0');
        return 0;
      }
      default:
        throw new CliError(`unknown command '${cmd}'; commands: explain, detect, audit, merge, layers, methods, sanity, evaluate, serve, help`);
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
  process.exitCode = await main(argv);
}
