/**
 * Video files through FFmpeg (Node only): probing a clip, decoding it frame by frame into RGB (a pipe read
 * one frame at a time: FFmpeg waits while a frame is being explained, so memory does not grow with the
 * clip), and encoding RGB frames into an H.264 MP4 or VP9 WebM. A folder of frames is a clip too (its
 * image files in name order, at `--input-fps`).
 *
 * FFmpeg is the `ffmpeg` (and `ffprobe`) on PATH, or the binaries named by GRADCAM_FFMPEG / GRADCAM_FFPROBE.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { InputError } from '../util/scores.js';
import { readImageFile } from '../image/node.js';
import { resizeRgb } from '../image/resize.js';
import type { RgbImage } from '../image/types.js';

export const VIDEO_EXTENSIONS = ['.mp4', '.m4v', '.webm', '.mov', '.avi', '.mkv', '.y4m'];
const FRAME_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff'];

const HOW_TO_GET = 'install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg; Windows: winget install ffmpeg) or name the binaries with GRADCAM_FFMPEG and GRADCAM_FFPROBE';

let checked: { key: string; tools: { ffmpeg: string; ffprobe: string } } | undefined;

/** The FFmpeg binaries, checked once per process and setting (a missing one is one InputError saying how to get it). */
export function ffmpegTools(): { ffmpeg: string; ffprobe: string } {
  const key = `${process.env.GRADCAM_FFMPEG ?? ''}\0${process.env.GRADCAM_FFPROBE ?? ''}`;
  if (checked?.key === key) return checked.tools;
  const ffmpeg = process.env.GRADCAM_FFMPEG || 'ffmpeg';
  const ffprobe = process.env.GRADCAM_FFPROBE || (process.env.GRADCAM_FFMPEG ? path.join(path.dirname(process.env.GRADCAM_FFMPEG), 'ffprobe') : 'ffprobe');
  for (const bin of [ffmpeg, ffprobe]) {
    // found as an executable file (on PATH, or where named) without running it: starting FFmpeg twice took most of a second on a loaded machine
    if (findExecutable(bin)) continue;
    const r = spawnSync(bin, ['-version'], { stdio: 'ignore' });
    if (r.error || r.status !== 0) throw new InputError(`gradcam video needs FFmpeg: '${bin}' was not found or does not run; ${HOW_TO_GET}`);
  }
  checked = { key, tools: { ffmpeg, ffprobe } };
  return checked.tools;
}

/** Whether `bin` (a path, or a name looked up on PATH) is an executable file; false also where this cannot be told (Windows: PATHEXT), and the caller runs it to see. */
function findExecutable(bin: string): boolean {
  if (process.platform === 'win32') return false;
  const ok = (f: string) => {
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (bin.includes('/')) return ok(bin);
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d !== '' && ok(path.join(d, bin)));
}

/** A clip's size, rate and length. */
export interface ClipInfo {
  file: string;
  width: number;
  height: number;
  /** Frames per second, and as FFmpeg states it ('30000/1001'). */
  fps: number;
  rate: string;
  /** Number of frames (packets of the video stream, read without decoding). */
  frames: number;
  /** A folder of frames: its image files in order. */
  frameFiles?: string[];
}

function parseRate(text: string | undefined): number {
  const m = /^(\d+)(?:\/(\d+))?$/.exec(text ?? '');
  if (!m) return NaN;
  return Number(m[1]) / Number(m[2] ?? 1);
}

/** Reads a clip's stream facts with ffprobe (or lists a folder of frames: `inputFps` is then its rate). */
export async function probeClip(file: string, inputFps = 25): Promise<ClipInfo> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch {
    throw new InputError(`${file}: no such file or folder`);
  }
  if (st.isDirectory()) {
    const names = (await fs.promises.readdir(file)).filter((n) => FRAME_EXTENSIONS.includes(path.extname(n).toLowerCase())).sort();
    if (!names.length) throw new InputError(`${file}: a folder of frames must hold image files (${FRAME_EXTENSIONS.join(', ')}); it holds none`);
    const first = await readImageFile(path.join(file, names[0]!));
    return { file, width: first.width, height: first.height, fps: inputFps, rate: String(inputFps), frames: names.length, frameFiles: names.map((n) => path.join(file, n)) };
  }
  const { ffprobe } = ffmpegTools();
  const r = spawnSync(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=width,height,r_frame_rate,avg_frame_rate,nb_read_packets', '-of', 'json', file], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new InputError(`${file}: FFmpeg cannot read it as a video (${(r.stderr || '').trim().split('\n').pop() || `ffprobe exit ${r.status}`}); give an MP4, WebM, MOV or AVI file, or a folder of frames`);
  const s = (JSON.parse(r.stdout) as { streams?: { width?: number; height?: number; r_frame_rate?: string; avg_frame_rate?: string; nb_read_packets?: string }[] }).streams?.[0];
  if (!s || !s.width || !s.height) throw new InputError(`${file}: holds no video stream`);
  let rate = s.avg_frame_rate && parseRate(s.avg_frame_rate) > 0 ? s.avg_frame_rate : s.r_frame_rate ?? '';
  if (!(parseRate(rate) > 0)) rate = s.r_frame_rate ?? '';
  const fps = parseRate(rate);
  const frames = Number(s.nb_read_packets);
  if (!(fps > 0) || !(frames > 0)) throw new InputError(`${file}: its video stream states no frame rate or no frames`);
  return { file, width: s.width, height: s.height, fps, rate, frames };
}

/** Reads exactly `size` bytes at a time from a stream (null at its end; a partial frame at the end is an error). */
class ChunkReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private parts: Buffer[] = [];
  private have = 0;

  constructor(stream: Readable, private readonly size: number) {
    this.chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async next(): Promise<Uint8Array | null> {
    while (this.have < this.size) {
      const c = await this.chunks.next();
      if (c.done) {
        if (this.have > 0) throw new Error(`the stream ended inside a frame (${this.have} of ${this.size} bytes)`);
        return null;
      }
      this.parts.push(c.value);
      this.have += c.value.length;
    }
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    const frame = new Uint8Array(all.subarray(0, this.size));
    const rest = all.subarray(this.size);
    this.parts = rest.length ? [rest] : [];
    this.have = rest.length;
    return frame;
  }
}

/**
 * Decodes a clip's frames in order as RGB images of the clip's size. `frame(i)` returns frame i (frames
 * before it that nobody asked for are read and dropped); indices must increase.
 */
export class FrameDecoder {
  private proc: ChildProcess | undefined;
  private reader: ChunkReader | undefined;
  private at = 0;
  private stderr = '';

  constructor(private readonly info: ClipInfo) {}

  private start(): void {
    const { ffmpeg } = ffmpegTools();
    const proc = spawn(ffmpeg, ['-v', 'error', '-nostdin', '-i', this.info.file, '-map', '0:v:0', '-an', '-sn', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => { if (this.stderr.length < 4000) this.stderr += d.toString(); });
    this.proc = proc;
    this.reader = new ChunkReader(proc.stdout!, this.info.width * this.info.height * 3);
  }

  async frame(i: number): Promise<RgbImage> {
    const { width, height } = this.info;
    if (i < this.at) throw new RangeError(`FrameDecoder: frame ${i} asked after frame ${this.at - 1}`);
    if (this.info.frameFiles) {
      const f = this.info.frameFiles[i];
      if (f === undefined) throw new InputError(`${this.info.file}: has no frame ${i}`);
      this.at = i + 1;
      const img = await readImageFile(f);
      return img.width === width && img.height === height ? { width, height, data: img.data } : resizeRgb({ width: img.width, height: img.height, data: img.data }, width, height);
    }
    if (!this.proc) this.start();
    for (;;) {
      const b = await this.reader!.next();
      if (!b) throw new InputError(`${this.info.file}: FFmpeg gave ${this.at} frames, not the ${this.info.frames} its stream states${this.stderr ? ` (${this.stderr.trim().split('\n').pop()})` : ''}`);
      if (this.at++ === i) return { width, height, data: b };
    }
  }

  close(): void {
    // SIGKILL and the pipe closed: FFmpeg defers SIGTERM while it is blocked writing a full pipe, and would keep the process alive
    if (this.proc) {
      this.proc.stdout?.destroy();
      if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    }
    this.proc = undefined;
  }
}

export type VideoFormat = 'mp4' | 'webm';

/**
 * Encodes RGB frames (all of one size) into `file` at `rate` frames per second: H.264 (yuv420p; yuv444p
 * when a side is odd, which 4:2:0 cannot hold) in MP4, or VP9 in WebM. `finish()` waits for FFmpeg;
 * `abort()` stops it.
 */
export class FrameEncoder {
  private readonly proc: ChildProcess;
  private readonly stdin: Writable;
  private stderr = '';
  private readonly exited: Promise<number | null>;

  constructor(readonly file: string, width: number, height: number, rate: string, format: VideoFormat) {
    const { ffmpeg } = ffmpegTools();
    const even = width % 2 === 0 && height % 2 === 0;
    const codec = format === 'webm'
      ? ['-c:v', 'libvpx-vp9', '-pix_fmt', even ? 'yuv420p' : 'yuv444p', '-b:v', '0', '-crf', '32', '-deadline', 'realtime', '-cpu-used', '8']
      : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', even ? 'yuv420p' : 'yuv444p', '-movflags', '+faststart'];
    this.proc = spawn(ffmpeg, ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', rate, '-i', 'pipe:0', ...codec, '-f', format, file], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => { if (this.stderr.length < 4000) this.stderr += d.toString(); });
    this.stdin = this.proc.stdin!;
    this.stdin.on('error', () => { /* reported by the exit status */ });
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code)));
  }

  async write(img: RgbImage): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`FFmpeg stopped encoding ${this.file}: ${this.stderr.trim().split('\n').pop() ?? `exit ${this.proc.exitCode}`}`);
    if (!this.stdin.write(img.data)) await new Promise<void>((resolve) => { this.stdin.once('drain', resolve); this.proc.once('close', () => resolve()); });
  }

  async finish(): Promise<void> {
    this.stdin.end();
    const code = await this.exited;
    if (code !== 0) throw new Error(`FFmpeg could not encode ${this.file}: ${this.stderr.trim().split('\n').pop() ?? `exit ${code}`}`);
  }

  abort(): void {
    // SIGKILL: FFmpeg defers SIGTERM while it waits on its input pipe
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
