/**
 * The CAM methods (kind `cam`) in menu order: the registry's CAM entries (src/methods/index.ts lists them
 * first). To add a CAM method: its CamMethod (descriptor + maths) in its own file here, and one line below.
 */
import { gradcam } from './gradcam.js';
import { gradcamPlusPlus } from './gradcam-plusplus.js';
import { xgradcam } from './xgradcam.js';
import { hirescam } from './hirescam.js';
import { layercam } from './layercam.js';
import { gradcamElementwise } from './gradcam-elementwise.js';
import { eigencam } from './eigencam.js';
import { eigengradcam } from './eigengradcam.js';
import { scorecam } from './scorecam.js';
import { ablationcam } from './ablationcam.js';
import { cam } from './cam.js';
import { random } from './random.js';
import type { CamMethod } from '../types.js';

export const CAM_METHOD_LIST: readonly CamMethod[] = [
  gradcam, gradcamPlusPlus, xgradcam, hirescam, layercam, gradcamElementwise, eigencam, eigengradcam, scorecam, ablationcam, cam, random,
];
