/** `gradcam methods` and the docs' method table: both read from the method registry (src/methods/index.ts). */
import { getMethod, METHODS, methodOptionFlags, methodsTaking, type MethodDescriptor } from '../methods/index.js';
import type { MethodKind, MethodOption } from '../methods/types.js';
import type { MethodOptionValue } from '../types.js';
import { InputError } from '../util/scores.js';
import { group, type OptionGroup, type OptionTable } from './spec.js';

const KIND_TITLES: Record<MethodKind, string> = {
  cam: 'CAM methods (a layer\'s activations × gradients or forward passes; --layer)',
  gradient: 'Gradient methods (one input gradient, rectified or not)',
  path: 'Path methods (input gradients along a path from a baseline)',
  noise: 'Noise methods (input gradients or maps over noisy copies)',
  perturbation: 'Perturbation methods (forward passes of perturbed inputs)',
};

function optionText(o: MethodOption): string {
  return `--${o.flag}${o.value ? ` ${o.value}` : ''}${o.default !== undefined ? ` (default ${String(o.default)})` : ''}`;
}

/** One line per method (`name  summary`), grouped by kind, with its cost and options below. */
export function methodsText(methods: readonly MethodDescriptor[] = METHODS): string {
  const lines: string[] = [];
  for (const kind of Object.keys(KIND_TITLES) as MethodKind[]) {
    const ms = methods.filter((m) => m.kind === kind);
    if (!ms.length) continue;
    if (lines.length) lines.push('');
    lines.push(`${KIND_TITLES[kind]}:`);
    for (const m of ms) {
      lines.push(`${m.name.padEnd(20)} ${m.summary}`);
      const opts = m.options.map(optionText);
      lines.push(`${''.padEnd(20)}   cost: ${m.cost}${opts.length ? `; options: ${opts.join(', ')}` : ''}${m.volumes ? '' : '; 2-D models only'}`);
    }
  }
  return lines.join('\n');
}

/** The docs' table of every method (docs/METHODS.md is checked against it by test/methods.test.ts). */
export function methodsMarkdown(methods: readonly MethodDescriptor[] = METHODS): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const rows = methods.map((m) => `| \`${m.name}\` | ${m.kind} | ${esc(m.summary)} | ${esc(m.cost)} | ${m.options.map((o) => `\`${esc(optionText(o))}\``).join(', ') || '—'} | ${esc(m.citation)} |`);
  return ['| method | kind | what it shows | cost in passes | options | reference |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

/**
 * The `Method options` group of `explain`: one flag per distinct option of the registered methods (those
 * not declared by the commands' own groups), its help naming the methods that take it. No defaults here:
 * the method's descriptor fills them in (resolveMethodOptions).
 */
export function methodOptionsGroup(except: readonly string[] = []): OptionGroup {
  const options: OptionTable = {};
  for (const o of methodOptionFlags()) {
    if (except.includes(o.flag)) continue; // a command's own option of that name (evaluate's --steps)
    const numeric = o.type === 'integer' || o.type === 'number';
    options[o.flag] = {
      type: o.type === 'boolean' ? 'boolean' : 'string',
      ...(o.type !== 'boolean' ? { value: o.value ?? (numeric ? 'N' : 'S') } : {}),
      ...(o.choices ? { choices: o.choices } : {}),
      ...(numeric ? { number: { integer: o.type === 'integer', ...(o.min !== undefined ? { min: o.min } : {}), ...(o.max !== undefined ? { max: o.max } : {}) } } : {}),
      help: `${methodsTaking(o.flag).join(', ')}: ${o.help}${o.default !== undefined ? ` (default ${String(o.default)})` : ''}`,
    };
  }
  return group('Method options', options);
}

/**
 * The method options given on the command line, per method of `methods` (its descriptor's own options):
 * a flag of the group above that none of them takes is an error naming the methods that take it.
 */
export function methodOptionsFor(methods: readonly string[], values: Readonly<Record<string, unknown>>, given: ReadonlySet<string>): Record<string, Record<string, MethodOptionValue>> {
  const out: Record<string, Record<string, MethodOptionValue>> = {};
  for (const name of methods) out[getMethod(name).name] = {};
  for (const o of methodOptionFlags()) {
    if (!given.has(o.flag)) continue;
    let taken = false;
    for (const name of Object.keys(out)) {
      const own = getMethod(name).options.find((x) => x.flag === o.flag && !x.shared);
      if (own) { out[name]![own.key] = values[o.flag] as MethodOptionValue; taken = true; }
    }
    if (!taken) throw new InputError(`--${o.flag} goes with ${methodsTaking(o.flag).join(', ')}; --method ${methods.join(',')} does not take it`);
  }
  return out;
}
