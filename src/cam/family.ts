/** The CAM family beyond Grad-CAM, by CLI name (pytorch-grad-cam's definitions; see each module). */
import { ablationcam } from './ablationcam.js';
import { cam } from './cam.js';
import { eigencam } from './eigencam.js';
import { eigengradcam } from './eigengradcam.js';
import { gradcamElementwise } from './gradcam-elementwise.js';
import { gradcamPlusPlus } from './gradcam-plusplus.js';
import { hirescam } from './hirescam.js';
import { layercam } from './layercam.js';
import { random } from './random.js';
import { scorecam } from './scorecam.js';
import { xgradcam } from './xgradcam.js';
import type { CamMethod } from './types.js';

export const FAMILY_METHODS: Readonly<Record<string, CamMethod>> = Object.fromEntries(
  [gradcamPlusPlus, xgradcam, hirescam, layercam, gradcamElementwise, eigencam, eigengradcam, scorecam, ablationcam, cam, random].map((m) => [m.name, m]),
);
