/** `gradcam detect`: decode a detector's detections, then one map per detection, drawn with its box and label. */
import path from 'node:path';
import { CAM_METHODS, camMethod } from '../cam/index.js';
import { GRADIENT_METHODS, isGradientMethod } from '../cam/guided.js';
import { encodePng } from '../image/png.js';
import { writeNpy } from '../image/npy.js';
import { NORMALIZE_PRESETS, type NormalizeOptions } from '../image/normalize.js';
import { InputError } from '../explainer.js';
import { loadDetector, prepareInputs, tensorPicture, DEFAULT_MAX_PIXELS, DEFAULT_PICTURE_SIDE, type PreparedInput } from '../node.js';
import { explanationJson, overlayPicture, type DrawnBox } from '../render/index.js';
import { BOX_FORMAT_HELP } from '../detect/head.js';
import { DEFAULT_NMS_IOU, DEFAULT_SCORE_THRESHOLD, type Box, type Detection } from '../detect/boxes.js';
import type { DetectionExplanation } from '../detect/detector.js';
import { StagedOutputs } from './output.js';
import { CliError, parseNumbers, parseSize, Progress } from './common.js';
import { resizeCropOptions } from './inputs.js';
import { batchPictures, uniqueStems } from './explain.js';
import { command, group, helpText, methodGroup, num, parseCommand, pick, usageError, withDefaults, IMAGES, MODEL, PICTURES, RUN, TARGET } from './spec.js';

const DETECTION = group('Detections', {
  'box-format': { type: 'string', value: 'F', default: 'auto', help: `how the detector's outputs are laid out: auto (default, recognised from their shapes), ${BOX_FORMAT_HELP}` },
  'score-threshold': { type: 'string', value: 'S', number: { min: 0, max: 1 }, help: `keep detections scoring at least S (default ${DEFAULT_SCORE_THRESHOLD})` },
  'iou-threshold': { type: 'string', value: 'T', number: { min: 0, max: 1 }, help: `NMS: drop boxes overlapping a better one of their class by more than T (default ${DEFAULT_NMS_IOU})` },
  top: { type: 'string', value: 'K', number: { integer: true, min: 1 }, help: 'explain only the K best detections per image' },
  box: { type: 'string', value: 'x1,y1,x2,y2', help: 'explain this box (model input pixels) instead of the detections; needs --class' },
  match: { type: 'string', value: 'M', default: 'sum', choices: ['sum', 'best'], help: "sum (default: every anchor with IoU >= --match-iou) or best (pytorch-grad-cam's FasterRCNNBoxScoreTarget: the best-overlapping anchor, if of the class, + its IoU)" },
  'match-iou': { type: 'string', value: 'T', number: { min: 0, max: 1 }, help: 'IoU that makes an anchor match the box (default 0.5)' },
  'iou-term': { type: 'boolean', default: false, help: "add the matched anchors' IoU with the box to the target (as FasterRCNNBoxScoreTarget)" },
  renormalize: { type: 'boolean', default: false, help: 'each map min-max scaled inside its box, zero outside' },
});

const ALL_METHODS = () => [...Object.keys(CAM_METHODS), ...Object.keys(GRADIENT_METHODS)];

export const DETECT = command({
  name: 'detect',
  synopsis: '<images|.npy...> --model FILE [options]',
  summary: 'explain every detection of a detector, box by box',
  description: `Decodes the detector's detections (score threshold, class-aware NMS), then explains each one: the map of
the box target (the class score summed over the anchors whose box overlaps the detection, IoU >=
--match-iou), drawn with the box and its label. Writes <stem>.det<k>.<method>.png and .json per detection.
Eigen-CAM (--method eigencam) is gradient-free and the same for every detection.`,
  groups: [
    withDefaults(MODEL, { model: { help: 'ONNX detection model (required)' } }), DETECTION,
    withDefaults(IMAGES, { normalize: { help: `normalisation preset: ${NORMALIZE_PRESETS.join(', ')} (default unit: pixels / 255, as YOLO exports expect)` } }),
    withDefaults(pick(TARGET, ['class', 'layer', 'layout']), { class: { default: undefined, help: 'the class of --box (an index or a label)' }, layer: { help: 'tensor or module to explain (default auto: the feature map before the detection head)' } }),
    pick(methodGroup(ALL_METHODS), ['method']), pick(PICTURES, ['colormap', 'alpha', 'no-caption', 'raw', 'max-overlay']),
    pick(RUN, ['out', 'quiet']),
  ],
  required: ['model'],
  positionals: 'inputs',
});

export async function runDetect(args: string[]): Promise<number> {
  const { values: o, positionals } = parseCommand(DETECT, args);
  if (o.help) {
    console.log(helpText(DETECT));
    return 0;
  }
  const method = o.method!.toLowerCase();
  if (!isGradientMethod(method)) {
    try {
      camMethod(method, Object.keys(GRADIENT_METHODS));
    } catch (e) {
      throw usageError(DETECT, (e as Error).message);
    }
  }
  const scoreThreshold = num(o['score-threshold']) ?? DEFAULT_SCORE_THRESHOLD;
  const iouThreshold = num(o['iou-threshold']) ?? DEFAULT_NMS_IOU;
  const matchIou = num(o['match-iou']) ?? 0.5;
  const top = num(o.top);
  let box: Box | undefined;
  if (o.box !== undefined) {
    const v = parseNumbers('--box', o.box);
    if (!v || v.length !== 4 || !(v[2]! > v[0]!) || !(v[3]! > v[1]!)) throw usageError(DETECT, `--box must be x1,y1,x2,y2 with x1 < x2 and y1 < y2, got '${o.box}'`);
    if (o.class === undefined) throw usageError(DETECT, '--box needs --class C (an index or a label)');
    box = v as Box;
  } else if (o.class !== undefined) throw usageError(DETECT, '--class goes with --box (detections carry their own class)');
  const alpha = num(o.alpha) ?? 0.5;
  const size = parseSize(o.size);
  const norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (!o.normalize && !norm.mean && !norm.std) norm.preset = 'unit';
  const limits = { maxPixels: num(o['max-pixels']) ?? DEFAULT_MAX_PIXELS, maxSide: num(o['max-overlay']) ?? DEFAULT_PICTURE_SIDE };
  const maxInputPixels = num(o['max-input']);
  const rc = resizeCropOptions(o);

  const detector = await loadDetector(o.model!, { labelsFile: o.labels, size, maxInputPixels, boxFormat: o['box-format'] });
  const ex = detector.explainer;
  const staged = new StagedOutputs(o.out!, positionals);
  const json = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`);
  try {
    const cls = o.class === undefined ? undefined : ex.classIndex(/^\d+$/.test(o.class) ? Number(o.class) : o.class, detector.head.classes);
    const inputs: PreparedInput[] = [];
    for (const file of positionals) inputs.push(...(await prepareInputs(ex, file, { ...norm, size, maxPixels: limits.maxPixels, maxInputPixels, picture: false, ...rc })));
    if (!o.quiet) process.stderr.write(`gradcam: ${o.model!}: ${detector.head.description}\n`);
    const stems = uniqueStems(inputs);
    const progress = new Progress(inputs.length, o.quiet);
    const lines: string[] = [];
    for (const [i, inp] of inputs.entries()) {
      const dets: Detection[] = box ? [detector.detectionFor(0, box, cls!)] : (await detector.detect(inp.tensor, inp.dims, { scoreThreshold, iouThreshold, top }))[0]!;
      const stem = stems[i]!;
      if (!dets.length) {
        lines.push(`${inp.file}: no detection scores ${scoreThreshold} or more`);
        progress.step(i + 1, path.basename(inp.file));
        continue;
      }
      const r = await detector.explain(inp.tensor, inp.dims, dets, {
        method, layer: o.layer, layout: o.layout, match: o.match as 'sum' | 'best', iouThreshold: matchIou, iouTerm: o['iou-term'], renormalize: o.renormalize,
      });
      const [picture] = await batchPictures([inp], limits);
      const base = picture ?? tensorPicture(inp, ex.layout, norm);
      for (const [k, e] of r.explanations.entries()) {
        const d = e.detection;
        const name = `${stem}.det${k}.${e.method}`;
        const boxes: DrawnBox[] = [{ box: d.box, label: detectionLabel(d) }];
        const files = [{ suffix: '.png', bytes: encodePng(overlayPicture(e, base, { colormap: o.colormap!, alpha, caption: !o['no-caption'], maxSide: limits.maxSide, boxes })) }];
        if (o.raw) files.push({ suffix: '.npy', bytes: writeNpy(e.map, [e.height, e.width]) });
        for (const f of files) await staged.add(path.join(o.out!, name + f.suffix), f.bytes);
        await staged.add(path.join(o.out!, `${name}.json`), json(detectionJson(e, {
          input: inp.file, model: o.model!, files: files.map((f) => name + f.suffix), head: detector.head.description,
          options: { match: o.match, match_iou: matchIou, iou_term: o['iou-term'] || o.match === 'best', renormalize: o.renormalize, score_threshold: scoreThreshold, iou_threshold: iouThreshold },
        })));
        lines.push(`${inp.file}: detection ${k}: ${detectionLabel(d)} [${d.box.map((v) => v.toFixed(1)).join(', ')}] → ${path.join(o.out!, `${name}.png`)}`);
        for (const w of e.warnings) process.stderr.write(`gradcam: warning: ${inp.file}: detection ${k}: ${w}\n`);
      }
      progress.step(i + 1, path.basename(inp.file));
    }
    await staged.commit();
    for (const l of lines) console.log(l);
    return 0;
  } catch (e) {
    await staged.abort();
    if (e instanceof InputError || e instanceof CliError) throw e;
    throw e;
  } finally {
    await detector.release();
  }
}

function detectionLabel(d: Detection): string {
  const name = d.label ?? `class ${d.class}`;
  return Number.isFinite(d.score) ? `${name} ${d.score.toFixed(2)}` : name;
}

function detectionJson(e: DetectionExplanation, ctx: { input: string; model: string; files: string[]; head: string; options: Record<string, unknown> }): Record<string, unknown> {
  const d = e.detection;
  return {
    ...explanationJson(e, { input: ctx.input, model: ctx.model, timings: { compileMs: 0, sessionMs: 0, runMs: 0, camMs: 0 }, files: ctx.files, options: ctx.options }),
    timings_ms: undefined,
    detection: { box: d.box, class: d.class, label: d.label ?? null, score: Number.isFinite(d.score) ? d.score : null, anchor: d.anchor >= 0 ? d.anchor : null },
    head: ctx.head,
  };
}
