/** What the CAM runner's steps share: the job of one call and its rows (image × target). */
import type { ExplainerCore as Explainer } from '../explainer/core.js';
import type { ExplainResult } from '../types.js';
import type * as T from './targets.js';
import type { CamMethod } from './types.js';
import type { ExplainOptions } from '../types.js';

export interface Job {
  ex: Explainer;
  methods: CamMethod[];
  groups: string[][];
  opts: ManyOptions;
  size: [number, number];
  timings: ExplainResult['timings'];
  gradCounted?: boolean;
  /** Passes of the gradient-free methods: done, planned (the first core's count × cores, corrected by later cores). */
  progress?: { done: number; total: number; cores: number; perCore?: number };
}

export interface Row {
  image: number;
  /** 1-based rank among the image's targets (top-k), else 1. */
  rank: number;
  target: T.ResolvedTarget;
}

export interface ManyOptions extends Omit<ExplainOptions, 'method' | 'layer'> {
  methods: string[];
  /** Layer groups: each is one layer or several (aggregated as pytorch-grad-cam); 'auto' allowed. */
  layers: (string | string[])[];
}
