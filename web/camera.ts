/**
 * The app's Camera mode and dropped video files (issue 26): the live stream (getUserMedia) or the video
 * explained frame by frame with the loaded model and the explain panel's choices, the overlay drawn on a
 * canvas with the class, the score and the frames per second, and a row per explained frame (time, class,
 * score, the map's peak and its drift, as `gradcam video` writes them). One frame is in flight at a time:
 * a frame that arrives while the worker is busy is dropped, never queued. "Record" records the overlay
 * (MediaRecorder on the canvas) and offers it with the rows (JSONL). Nothing leaves the browser.
 */
import { mapOverlay } from '../src/render/index.js';
import { drawText } from '../src/image/montage.js';
import type { RgbImage } from '../src/image/types.js';
import { frameDrift, mapPlace, quantizeMap, type MapPlace } from '../src/video/drift.js';
import type { ExplainOutput, ExplainParams } from './protocol.js';

export interface CameraHost {
  /** Explains one frame in the worker (with the panel's class, layer and method). */
  explainFrame(rgb: RgbImage): Promise<ExplainOutput>;
  /** Whether a model is loaded. */
  ready(): boolean;
  look(): { colormap: string; alpha: number };
  showError(e: unknown): void;
}

export interface CameraRow {
  frame: number;
  time: number;
  class: { index: number; label: string | null; probability: number };
  score: number;
  map: { peak: [number, number] | null; centroid: [number, number] | null };
  drift: { peak_jump: number | null; overlap: number | null; flags: string[] };
  flagged: boolean;
}

/** What the page exposes (window.gradcam.camera) for tests and the benchmark. */
export interface CameraState {
  running: boolean;
  source: 'camera' | 'file' | null;
  explained: number;
  dropped: number;
  fps: number;
  rows: CameraRow[];
  /** The last explained frame: the pixels sent, and the map that came back. */
  last?: { rgb: RgbImage; map: Float32Array; width: number; height: number; target: number };
}

export type { ExplainParams };

export function setupCamera(host: CameraHost): CameraState {
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const video = $<HTMLVideoElement>('camera-video');
  const canvas = $<HTMLCanvasElement>('camera-canvas');
  const stats = $<HTMLSpanElement>('camera-stats');
  const startBtn = $<HTMLButtonElement>('camera-start');
  const stopBtn = $<HTMLButtonElement>('camera-stop');
  const recordBtn = $<HTMLButtonElement>('camera-record');
  const fileInput = $<HTMLInputElement>('camera-file');
  const downloads = $<HTMLSpanElement>('camera-downloads');
  const grab = document.createElement('canvas');
  const state: CameraState = { running: false, source: null, explained: 0, dropped: 0, fps: 0, rows: [] };
  let busy = false;
  let stream: MediaStream | undefined;
  let prev: MapPlace | undefined;
  let t0 = 0;
  let recorder: MediaRecorder | undefined;
  let chunks: Blob[] = [];

  const frameRgb = (): RgbImage | undefined => {
    const [w, h] = [video.videoWidth, video.videoHeight];
    if (!w || !h) return undefined;
    grab.width = w;
    grab.height = h;
    const ctx = grab.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(video, 0, 0, w, h);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    const data = new Uint8Array(w * h * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) { data[j] = rgba[i]!; data[j + 1] = rgba[i + 1]!; data[j + 2] = rgba[i + 2]!; }
    return { width: w, height: h, data };
  };

  const draw = (img: RgbImage, text: string) => {
    canvas.width = img.width;
    canvas.height = img.height;
    drawText(img, 3, 3, text, [255, 255, 255], Math.max(1, Math.floor(img.width / 320)));
    const rgba = new Uint8ClampedArray(img.width * img.height * 4);
    for (let i = 0, j = 0; j < img.data.length; i += 4, j += 3) { rgba[i] = img.data[j]!; rgba[i + 1] = img.data[j + 1]!; rgba[i + 2] = img.data[j + 2]!; rgba[i + 3] = 255; }
    canvas.getContext('2d')!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
  };

  const showStats = () => {
    stats.textContent = `${state.fps.toFixed(1)} frames/s explained · ${state.explained} explained · ${state.dropped} dropped (one frame in flight)`;
  };

  const onFrame = async () => {
    if (!state.running) return;
    schedule();
    if (busy) { state.dropped++; return; }
    const rgb = frameRgb();
    if (!rgb) return;
    busy = true;
    try {
      const time = state.source === 'file' ? video.currentTime : (performance.now() - t0) / 1000;
      const r = await host.explainFrame(rgb);
      if (!state.running) return;
      const q = quantizeMap(r.map);
      const place = mapPlace(q, r.width, r.height);
      const drift = frameDrift(place, prev, undefined);
      prev = place;
      const cls = { index: r.target.index, label: r.target.label ?? null, probability: Math.round(r.target.probability * 1e4) / 1e4 };
      state.rows.push({ frame: state.explained, time: Math.round(time * 1e4) / 1e4, class: cls, score: cls.probability, map: { peak: place.peak, centroid: place.centroid }, drift, flagged: drift.flags.length > 0 });
      state.explained++;
      state.fps = state.explained / Math.max(1e-3, (performance.now() - t0) / 1000);
      state.last = { rgb, map: r.map, width: r.width, height: r.height, target: r.target.index };
      const look = host.look();
      draw(mapOverlay(rgb, r.map, r.width, r.height, look), `${cls.label ?? `class ${cls.index}`} ${cls.probability.toFixed(2)} · ${state.fps.toFixed(1)} fps${drift.flags.length ? ` · ${drift.flags.join(', ')}` : ''}`);
      showStats();
    } catch (e) {
      stop();
      host.showError(e);
    } finally {
      busy = false;
    }
  };

  const schedule = () => {
    const v = video as HTMLVideoElement & { requestVideoFrameCallback?: (cb: () => void) => number };
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(() => void onFrame());
    else requestAnimationFrame(() => void onFrame());
  };

  const begin = async (source: 'camera' | 'file') => {
    if (!host.ready()) throw new Error('load a model first: the camera is explained with the loaded model');
    Object.assign(state, { running: true, source, explained: 0, dropped: 0, fps: 0, rows: [] });
    prev = undefined;
    await video.play();
    t0 = performance.now();
    startBtn.disabled = true;
    stopBtn.disabled = false;
    recordBtn.disabled = false;
    schedule();
  };

  const stop = () => {
    state.running = false;
    if (recorder && recorder.state !== 'inactive') recorder.stop();
    for (const t of stream?.getTracks() ?? []) t.stop();
    stream = undefined;
    video.pause();
    startBtn.disabled = false;
    stopBtn.disabled = true;
    recordBtn.disabled = true;
  };

  startBtn.onclick = async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      video.srcObject = stream;
      await begin('camera');
    } catch (e) {
      stop();
      host.showError(e);
    }
  };
  stopBtn.onclick = () => stop();
  video.onended = () => { if (state.source === 'file') stop(); };
  const playFile = async (f: File) => {
    stop();
    try {
      video.srcObject = null;
      video.src = URL.createObjectURL(f); // a local object URL: the file is read in this browser
      video.muted = true;
      await begin('file');
    } catch (e) {
      stop();
      host.showError(e);
    }
  };
  fileInput.onchange = () => { const f = fileInput.files?.[0]; if (f) void playFile(f); };
  // a video dropped on the panel plays the same way
  const panel = $<HTMLElement>('camera-panel');
  panel.ondragover = (e) => { if ([...(e.dataTransfer?.items ?? [])].some((i) => i.type.startsWith('video/'))) e.preventDefault(); };
  panel.ondrop = (e) => {
    const f = [...(e.dataTransfer?.files ?? [])].find((x) => x.type.startsWith('video/'));
    if (!f) return;
    e.preventDefault();
    e.stopPropagation();
    void playFile(f);
  };
  recordBtn.onclick = () => {
    if (recorder && recorder.state === 'recording') { recorder.stop(); return; }
    chunks = [];
    const from = state.rows.length;
    recorder = new MediaRecorder(canvas.captureStream(), { mimeType: 'video/webm' });
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    recorder.onstop = () => {
      const link = (blob: Blob, name: string) => `<a href="${URL.createObjectURL(blob)}" download="${name}">${name}</a>`;
      const rows = state.rows.slice(from).map((r) => JSON.stringify(r)).join('\n');
      downloads.innerHTML = `${link(new Blob(chunks, { type: 'video/webm' }), 'overlay.webm')} · ${link(new Blob([rows ? `${rows}\n` : ''], { type: 'application/x-ndjson' }), 'frames.jsonl')}`;
      recordBtn.textContent = 'Record';
    };
    recorder.start(250);
    recordBtn.textContent = 'Stop recording';
  };
  showStats();
  return state;
}
