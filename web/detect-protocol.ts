/** Messages between the detection page (detect.ts) and its worker (detect-worker.ts). */
export type DetectRequest =
  | { type: 'load'; name: string; bytes: Uint8Array; ortBase: string; boxFormat?: string }
  | { type: 'detect'; png: Uint8Array; scoreThreshold: number; iouThreshold: number }
  | { type: 'explain'; index: number; method: string; renormalize: boolean };

export interface ShownDetection { box: [number, number, number, number]; class: number; label?: string; score: number }

export type DetectReply =
  | { type: 'load'; description: string; labels: string[]; size: [number, number] }
  | { type: 'detect'; detections: ShownDetection[]; size: [number, number] }
  | { type: 'explain'; map: Float32Array; width: number; height: number; target: string; warnings: string[] };
