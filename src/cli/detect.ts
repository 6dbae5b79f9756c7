/** `gradcam detect`: decode a detector's detections, then one map per detection, drawn with its box and label. */
import path from 'node:path';
import { CAM_METHODS, camMethod } from '../cam/index.js';
import { GRADIENT_METHODS, isGradientMethod } from '../cam/guided.js';
import { COLORMAPS } from '../image/colormap.js';
import { encodePng } from '../image/png.js';
import { writeNpy } from '../image/npy.js';
import { NORMALIZE_PRESETS, type NormalizeOptions } from '../image/normalize.js';
import { InputError } from '../explainer.js';
import { loadDetector, prepareInputs, tensorPicture, type PreparedInput } from '../node.js';
import { explanationJson, overlayPicture, type DrawnBox } from '../render/index.js';
import { BOX_FORMAT_HELP } from '../detect/head.js';
import { DEFAULT_NMS_IOU, DEFAULT_SCORE_THRESHOLD, type Box, type Detection } from '../detect/boxes.js';
import type { DetectionExplanation } from '../detect/detector.js';
import { StagedOutputs } from './output.js';
import { CliError, usageError, optionNumber, parse, parseMaxInput, parseNumbers, parseSize, maxInputHelp, Progress } from './common.js';
import { RESIZE_CROP_USAGE, resizeCropOptions } from './inputs.js';
import { batchPictures, pictureLimits, uniqueStems } from './explain.js';

export const DETECT_USAGE = `Usage: gradcam detect <images|.npy...> --model FILE [options]

Decodes the detector's detections (score threshold, class-aware NMS), then explains each one: the map of
the box target (the class score summed over the anchors whose box overlaps the detection, IoU >=
--match-iou), drawn with the box and its label. Writes <stem>.det<k>.<method>.png and .json per detection.

Options:
  --model FILE         ONNX detection model (required)
  --box-format F       auto (default), ${BOX_FORMAT_HELP}
  --score-threshold S  keep detections scoring at least S (default ${DEFAULT_SCORE_THRESHOLD})
  --iou-threshold T    NMS: drop boxes overlapping a better one of their class by more than T (default ${DEFAULT_NMS_IOU})
  --top K              explain only the K best detections per image
  --box x1,y1,x2,y2    explain this box (model input pixels) instead of the detections; needs --class
  --class C            the class of --box (an index or a label)
  --method NAME        ${[...Object.keys(CAM_METHODS), ...Object.keys(GRADIENT_METHODS)].join(', ')} (default gradcam;
                       eigencam is gradient-free and the same for every detection)
  --layer NAME         tensor or module to explain (default auto: the feature map before the detection head)
  --layout L           the layer's layout where gradcam cannot infer it: nchw, nhwc or tokens:HxW[+P]
  --match M            sum (default: every anchor with IoU >= --match-iou) or best (pytorch-grad-cam's
                       FasterRCNNBoxScoreTarget: the best-overlapping anchor, if of the class, + its IoU)
  --match-iou T        IoU that makes an anchor match the box (default 0.5)
  --iou-term           add the matched anchors' IoU with the box to the target (as FasterRCNNBoxScoreTarget)
  --renormalize        each map min-max scaled inside its box, zero outside
  --out DIR            output folder (default gradcam-out)
  --raw                also write each map as .npy float32 [H,W] at input resolution
  --colormap NAME      ${COLORMAPS.join(', ')} (default jet)
  --alpha A            heat-map opacity in the overlay, 0..1 (default 0.5)
  --no-caption         overlay PNG without the caption
  --labels FILE        class labels: one per line, or JSON (default: the model's metadata)
  --size H[xW]         input size for models with dynamic height/width
${RESIZE_CROP_USAGE}  --normalize NAME     ${NORMALIZE_PRESETS.join(', ')} (default unit: pixels / 255, as YOLO exports expect)
  --mean a,b,c         custom mean (on [0,1] values unless a preset is given)
  --std a,b,c          custom std
  --max-pixels N       refuse images larger than N pixels (0: no limit)
  --max-overlay N      longest side of the overlay PNGs in pixels (default 2048)
${maxInputHelp()}
  --quiet              no progress on stderr
`;

export async function runDetect(args: string[]): Promise<number> {
  const { values: o, positionals } = parse(args, {
    model: { type: 'string' }, 'box-format': { type: 'string', default: 'auto' }, 'score-threshold': { type: 'string' }, 'iou-threshold': { type: 'string' },
    top: { type: 'string' }, box: { type: 'string' }, class: { type: 'string' }, method: { type: 'string', default: 'gradcam' }, layer: { type: 'string' }, layout: { type: 'string' },
    match: { type: 'string', default: 'sum' }, 'match-iou': { type: 'string' }, 'iou-term': { type: 'boolean', default: false }, renormalize: { type: 'boolean', default: false },
    out: { type: 'string', default: 'gradcam-out' }, raw: { type: 'boolean', default: false },
    colormap: { type: 'string', default: 'jet' }, alpha: { type: 'string', default: '0.5' }, 'no-caption': { type: 'boolean', default: false },
    labels: { type: 'string' }, size: { type: 'string' }, normalize: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' },
    resize: { type: 'string' }, crop: { type: 'string' }, 'max-pixels': { type: 'string' }, 'max-overlay': { type: 'string' }, 'max-input': { type: 'string' },
    quiet: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
  }, DETECT_USAGE);
  if (o.help) {
    console.log(DETECT_USAGE);
    return 0;
  }
  if (!o.model) throw usageError('--model FILE is required', DETECT_USAGE);
  if (positionals.length === 0) throw usageError('no inputs given', DETECT_USAGE);
  const method = o.method!.toLowerCase();
  if (!isGradientMethod(method)) camMethod(method, Object.keys(GRADIENT_METHODS));
  const fraction = (name: string, v: string | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    const x = optionNumber(v);
    if (!(x >= 0 && x <= 1)) throw new CliError(`${name} must be a number between 0 and 1, got '${v}'`);
    return x;
  };
  const scoreThreshold = fraction('--score-threshold', o['score-threshold'], DEFAULT_SCORE_THRESHOLD);
  const iouThreshold = fraction('--iou-threshold', o['iou-threshold'], DEFAULT_NMS_IOU);
  const matchIou = fraction('--match-iou', o['match-iou'], 0.5);
  let top: number | undefined;
  if (o.top !== undefined) {
    top = optionNumber(o.top);
    if (!Number.isInteger(top) || top < 1) throw new CliError(`--top must be a positive integer, got '${o.top}'`);
  }
  if (o.match !== 'sum' && o.match !== 'best') throw new CliError(`--match must be 'sum' or 'best', got '${o.match}'`);
  let box: Box | undefined;
  if (o.box !== undefined) {
    const v = parseNumbers('--box', o.box);
    if (!v || v.length !== 4 || !(v[2]! > v[0]!) || !(v[3]! > v[1]!)) throw new CliError(`--box must be x1,y1,x2,y2 with x1 < x2 and y1 < y2, got '${o.box}'`);
    if (o.class === undefined) throw new CliError('--box needs --class C (an index or a label)');
    box = v as Box;
  } else if (o.class !== undefined) throw new CliError('--class goes with --box (detections carry their own class)');
  if (!(COLORMAPS as readonly string[]).includes(o.colormap!)) throw new CliError(`unknown colour map '${o.colormap}'; choose one of: ${COLORMAPS.join(', ')}`);
  const alpha = optionNumber(o.alpha!);
  if (!(alpha >= 0 && alpha <= 1)) throw new CliError(`--alpha must be a number between 0 and 1, got '${o.alpha}'`);
  const size = parseSize(o.size);
  const norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (!o.normalize && !norm.mean && !norm.std) norm.preset = 'unit';
  const limits = pictureLimits(o['max-pixels'], o['max-overlay']);
  const maxInputPixels = parseMaxInput(o['max-input']);
  const rc = resizeCropOptions(o);

  const detector = await loadDetector(o.model, { labelsFile: o.labels, size, maxInputPixels, boxFormat: o['box-format'] });
  const ex = detector.explainer;
  const staged = new StagedOutputs(o.out!, positionals);
  const json = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`);
  try {
    const cls = o.class === undefined ? undefined : ex.classIndex(/^\d+$/.test(o.class) ? Number(o.class) : o.class, detector.head.classes);
    const inputs: PreparedInput[] = [];
    for (const file of positionals) inputs.push(...(await prepareInputs(ex, file, { ...norm, size, maxPixels: limits.maxPixels, maxInputPixels, picture: false, ...rc })));
    if (!o.quiet) process.stderr.write(`gradcam: ${o.model}: ${detector.head.description}\n`);
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
          input: inp.file, model: o.model, files: files.map((f) => name + f.suffix), head: detector.head.description,
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
