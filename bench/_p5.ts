import { readImageFile } from '../src/image/node.js';
import { encodePng } from '../src/image/png.js';
import zlib from 'node:zlib';
import sharp from 'sharp';
const img = await readImageFile('.tmp/bench-cli/images/img0.jpg');
const t = async (k: string, f: () => unknown) => { const ts=[]; let r: any; for (let i=0;i<9;i++){const t0=performance.now(); r=await f(); ts.push(performance.now()-t0);} ts.sort((a,b)=>a-b); console.log(k, ts[4]!.toFixed(1), r?.length); return r; };
const stride = img.width*3;
// fixed filter variants
function fixed(f: number, level: number) {
  const out = new Uint8Array((stride+1)*img.height); const d = img.data;
  for (let y=0;y<img.height;y++){ const o=y*(stride+1); out[o]=f; const r=y*stride, p=r-stride;
    for (let i=0;i<stride;i++){ const x=d[r+i]!; const a=i>=3?d[r+i-3]!:0; const b=y?d[p+i]!:0; const c=(y&&i>=3)?d[p+i-3]!:0;
      let v; if (f===1) v=x-a; else if (f===2) v=x-b; else { const pp=a+b-c; const pa=Math.abs(pp-a),pb=Math.abs(pp-b),pc=Math.abs(pp-c); v=x-(pa<=pb&&pa<=pc?a:pb<=pc?b:c); }
      out[o+1+i]=v&255; } }
  return zlib.deflateSync(out, {level});
}
await t('adaptive6', () => encodePng(img));
await t('adaptive1', () => encodePng(img, {level: 1}));
await t('adaptive3', () => encodePng(img, {level: 3}));
for (const f of [1,2,4]) for (const l of [1,3,6]) await t(`fixed${f} L${l}`, () => fixed(f, l));
await t('sharp6', () => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer());
await t('sharp6a', () => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png({adaptiveFiltering: true}).toBuffer());
await t('sharp3', () => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png({compressionLevel: 3}).toBuffer());
