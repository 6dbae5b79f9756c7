/** The CAM family beyond Grad-CAM, by CLI name (pytorch-grad-cam's definitions; see each module). */
import { ablationcam } from './methods/ablationcam.js';
import { cam } from './methods/cam.js';
import { eigencam } from './methods/eigencam.js';
import { eigengradcam } from './methods/eigengradcam.js';
import { gradcamElementwise } from './methods/gradcam-elementwise.js';
import { gradcamPlusPlus } from './methods/gradcam-plusplus.js';
import { hirescam } from './methods/hirescam.js';
import { layercam } from './methods/layercam.js';
import { random } from './methods/random.js';
import { scorecam } from './methods/scorecam.js';
import { xgradcam } from './methods/xgradcam.js';
import type { CamMethod } from './types.js';

export const FAMILY_METHODS: Readonly<Record<string, CamMethod>> = Object.fromEntries(
  [gradcamPlusPlus, xgradcam, hirescam, layercam, gradcamElementwise, eigencam, eigengradcam, scorecam, ablationcam, cam, random].map((m) => [m.name, m]),
);
