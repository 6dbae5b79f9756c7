/**
 * The one Ctrl-C / SIGTERM handler of gradcam's Node side: a single listener on each signal, hooks
 * registered by what is running (a dataset run stops after its batch: cli/common.ts interruptible; an
 * all-or-nothing write removes its temporaries: write.ts StagedOutputs). Each hook is told the signal
 * and how many have come since the first hook was registered; the latest hook runs first.
 */
type Hook = (sig: NodeJS.Signals, count: number) => void;

const hooks: Hook[] = [];
let count = 0;

function onSignal(sig: NodeJS.Signals): void {
  count++;
  for (const h of [...hooks].reverse()) h(sig, count);
}

/** Registers `hook` until the returned function is called. */
export function onInterrupt(hook: Hook): () => void {
  if (!hooks.length) {
    count = 0;
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
    if (!hooks.length) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  };
}
