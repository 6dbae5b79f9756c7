/**
 * The Kubernetes Indexed Job in docs/AUDIT.md is a valid batch/v1 Job: its YAML (parsed by `yaml`) is
 * type-checked as an object literal against `kubernetes-types`' Job (generated from Kubernetes' OpenAPI
 * schema) by the TypeScript compiler, so an unknown or misspelt field (excess property), a missing required
 * one or a wrong type fails; and its gradcam command agrees with the Job (one shard per completion index).
 * `kubectl --dry-run=client` would need a cluster's OpenAPI endpoint to validate fields, hence the schema check.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parse } from 'yaml';
import { ROOT } from './helpers/cli.js';

const DOC = path.join(ROOT, 'docs', 'AUDIT.md');

/** The ```yaml block under the "### Kubernetes" heading of docs/AUDIT.md. */
function manifestText(): string {
  const md = fs.readFileSync(DOC, 'utf8');
  const at = md.indexOf('### Kubernetes');
  assert.ok(at >= 0, 'docs/AUDIT.md has a "### Kubernetes" section');
  const m = /```yaml\n([\s\S]*?)```/.exec(md.slice(at));
  assert.ok(m, 'the Kubernetes section has a ```yaml block');
  return m[1]!;
}

/**
 * The TypeScript errors of `const job: Job = <manifest>` (kubernetes-types/batch/v1), one line each with
 * the manifest's path to the offending field; [] when the manifest is a valid Job.
 */
function jobSchemaErrors(manifest: unknown): string[] {
  const file = path.join(ROOT, 'test', '__k8s_job_check.ts');
  const source = `import type { Job } from 'kubernetes-types/batch/v1';\nexport const job: Job = ${JSON.stringify(manifest, null, 2)};\n`;
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['lib.es2022.d.ts'],
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === file ? ts.createSourceFile(name, source, lang) : getSourceFile.call(host, name, lang, ...rest));
  host.fileExists = (name) => path.resolve(name) === file || fileExists.call(host, name);
  host.readFile = (name) => (path.resolve(name) === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  const lines = source.split('\n');
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (!d.file || d.start === undefined) return text;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${text} (at: ${lines[line]!.trim()})`;
  });
}

describe('the Kubernetes Indexed Job in docs/AUDIT.md', () => {
  const job = parse(manifestText()) as Record<string, any>;

  it('is a batch/v1 Job by the Kubernetes schema', () => {
    assert.equal(job.apiVersion, 'batch/v1');
    assert.equal(job.kind, 'Job');
    assert.deepEqual(jobSchemaErrors(job), []);
  });

  it('the schema check fails on a misspelt field, a field in the wrong place, a wrong type and a missing field', () => {
    const mutate = (f: (j: any) => void) => {
      const j = structuredClone(job);
      f(j);
      return jobSchemaErrors(j);
    };
    const misspelt = mutate((j) => { j.spec.completionMod = j.spec.completionMode; delete j.spec.completionMode; });
    assert.equal(misspelt.length, 1);
    assert.match(misspelt[0]!, /'"completionMod"' does not exist in type 'JobSpec'/);
    const misplaced = mutate((j) => { j.spec.template.spec.completions = j.spec.completions; });
    assert.match(misplaced.join('\n'), /'"completions"' does not exist in type 'PodSpec'/);
    const inContainer = mutate((j) => { j.spec.template.spec.containers[0].volumes = j.spec.template.spec.volumes; });
    assert.match(inContainer.join('\n'), /'"volumes"' does not exist in type 'Container'/);
    const wrongType = mutate((j) => { j.spec.completions = '8'; });
    assert.match(wrongType.join('\n'), /Type 'string' is not assignable to type 'number'/);
    const missing = mutate((j) => { delete j.spec.template.spec.containers[0].name; });
    assert.match(missing.join('\n'), /'name' is missing/);
  });

  it('runs one gradcam shard per completion index, each into its own folder, resumable on restart', () => {
    const spec = job.spec;
    assert.equal(spec.completionMode, 'Indexed');
    assert.ok(spec.parallelism >= 1 && spec.parallelism <= spec.completions);
    assert.ok(['OnFailure', 'Never'].includes(spec.template.spec.restartPolicy), 'a Job\'s pods restart OnFailure or Never');
    const script = (spec.template.spec.containers[0].args as string[]).join('\n');
    assert.match(script, /gradcam audit /);
    const shard = /--shard "\$\{JOB_COMPLETION_INDEX\}\/(\d+)"/.exec(script);
    assert.ok(shard, `--shard "\${JOB_COMPLETION_INDEX}/N" in ${script}`);
    assert.equal(Number(shard[1]), spec.completions, '--shard i/N with N = completions');
    assert.match(script, /--out "[^"]*\$\{JOB_COMPLETION_INDEX\}"/, 'each index writes its own --out folder');
    assert.match(script, /--no-report/, 'shards leave the report to gradcam merge');
  });
});
