/** The `gradcam explain` options of the CAM family (methods, layers, targets, smoothing), for the usage text and for refusing them with a gradient method. */

export const FAMILY_OPTIONS = `  --methods a,b,c      several methods (each writes its own files; with --grid one comparison)
  --layers a,b,c       several layers: their maps are averaged as pytorch-grad-cam does (with --grid:
                       one column per layer, plus their mean)
  --grid               write <stem>.grid.png: a labelled methods × layers comparison, and <stem>.grid.json
  --target KIND        what to explain: logit (default), softmax, binary, binary-neg, regression,
                       segmentation, similarity, element
  --index I[,J..]      output index for binary / regression (default 0) and element (flat or per dim)
  --mask FILE          segmentation: .npy or .png mask at the output's class-plane size (default:
                       the pixels whose arg-max class is --class)
  --reference FILE     similarity: the image (or .npy) whose embedding the cosine is taken against
  --top-k K            explain the K best classes of every image: <stem>-top1.<method>.png ...
  --contrast D         why --class rather than D (score_c − score_D); D may be 'top'
  --counterfactual     what speaks against the class (negated gradients)
  --aug-smooth         average over horizontal flip × input × 0.9/1/1.1 (pytorch-grad-cam's tta)
  --eigen-smooth       first principal component of the weighted activations instead of their sum
  --cam-batch N        forward passes per run for scorecam / ablationcam (default: as many as fit in
                       512 MB by the input and layer sizes, at most 32)
  --score-top N        scorecam: score only the N channels with the largest activation variance
  --seed S             random: numpy seed of the channel weights (default 0)
`;

const FLAGS = ['methods', 'layers', 'grid', 'target', 'index', 'mask', 'reference', 'top-k', 'contrast', 'counterfactual', 'aug-smooth', 'eigen-smooth', 'cam-batch', 'score-top', 'seed'];

/** The family options present in the arguments. */
export function familyFlags(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a === '--') break;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m && FLAGS.includes(m[1]!)) out.push(`--${m[1]}`);
  }
  return out;
}
