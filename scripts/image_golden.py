#!/usr/bin/env python3
"""Writes the golden data for test/image.test.ts into test/fixtures/image/.

Oracles: OpenCV (cv2.resize INTER_LINEAR, cv2.applyColorMap), Pillow (Image.resize BILINEAR),
numpy (np.save / np.lib.format.write_array).  Run with a Python that has numpy, PIL and cv2:

    /usr/bin/python3 scripts/image_golden.py            # writes fixtures
    /usr/bin/python3 scripts/image_golden.py --tables   # also prints the colour-map tables for src/image/colormap.ts

Inputs are generated with the same 32-bit LCG the tests use (see lcg() here and in test/image.test.ts),
so only outputs are stored.  Everything stays small (tens of KB in all).
"""
import io
import json
import os
import sys

import cv2
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'image')


def lcg_u32(n, seed):
    state = seed & 0xFFFFFFFF
    out = np.empty(n, np.uint32)
    for i in range(n):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = state
    return out


def lcg_f32(n, seed):
    """Uniform float32 in [0, 1): (state >> 8) / 2**24, exact in float32."""
    return ((lcg_u32(n, seed) >> 8).astype(np.float64) / 16777216.0).astype(np.float32)


def lcg_u8(n, seed):
    return (lcg_u32(n, seed) >> 24).astype(np.uint8)


def save(name, arr):
    np.save(os.path.join(OUT, name), arr)


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {'generator': 'scripts/image_golden.py', 'cv2': cv2.__version__,
                'numpy': np.__version__, 'pillow': Image.__version__}

    # ---- float resize: cv2.resize(..., INTER_LINEAR) on float32, one channel -------------------
    # (h, w, outH, outW, seed, rows, cols): rows/cols None -> the whole output is stored.
    cases = [
        (7, 7, 224, 224, 11, [0, 15, 16, 113, 208, 223], [0, 16, 113, 207, 223]),
        (9, 13, 48, 64, 12, [0, 1, 24, 46, 47], [0, 1, 32, 62, 63]),
        (32, 32, 20, 20, 13, None, None),
        (32, 32, 16, 16, 14, None, None),   # exact 2x: cv2 switches to INTER_AREA internally
        (14, 14, 7, 7, 15, None, None),
        (10, 6, 3, 17, 16, None, None),
        (1, 5, 4, 9, 17, None, None),
        (50, 40, 7, 9, 18, None, None),
        (6, 8, 6, 8, 19, None, None),        # identity
        (9, 4, 2, 2, 20, None, None),
        (5, 1, 11, 3, 21, None, None),
    ]
    chunks = []
    mcases = []
    for (h, w, oh, ow, seed, rows, cols) in cases:
        src = lcg_f32(h * w, seed).reshape(h, w)
        out = cv2.resize(src, (ow, oh), interpolation=cv2.INTER_LINEAR)
        assert out.dtype == np.float32 and out.shape == (oh, ow)
        if rows is None:
            vals = out.reshape(-1)
        else:
            vals = np.concatenate([out[rows, :].reshape(-1), out[:, cols].T.reshape(-1)])
        mcases.append({'h': h, 'w': w, 'outH': oh, 'outW': ow, 'seed': seed, 'rows': rows, 'cols': cols,
                       'offset': int(sum(c.size for c in chunks)), 'count': int(vals.size)})
        chunks.append(vals.astype(np.float32))
    save('resize_cv2.npy', np.concatenate(chunks))
    manifest['resize_cv2'] = mcases

    # ---- RGB resize: PIL Image.resize(BILINEAR) (antialiased when downscaling) -------------------
    pcases = [(61, 47, 20, 15, 31), (13, 10, 30, 22, 32), (41, 17, 20, 40, 33), (17, 17, 16, 16, 34),
              (40, 30, 7, 5, 35), (64, 48, 32, 24, 36)]
    chunks = []
    mp = []
    for (w, h, ow, oh, seed) in pcases:
        src = lcg_u8(w * h * 3, seed).reshape(h, w, 3)
        out = np.asarray(Image.fromarray(src, 'RGB').resize((ow, oh), Image.BILINEAR))
        mp.append({'w': w, 'h': h, 'outW': ow, 'outH': oh, 'seed': seed,
                   'offset': int(sum(c.size for c in chunks)), 'count': int(out.size)})
        chunks.append(out.reshape(-1))
    save('resize_pil.npy', np.concatenate(chunks).astype(np.uint8))
    manifest['resize_pil'] = mp

    # ---- colour maps -----------------------------------------------------------------------------
    cmaps = {'jet': cv2.COLORMAP_JET, 'turbo': cv2.COLORMAP_TURBO, 'viridis': cv2.COLORMAP_VIRIDIS,
             'inferno': cv2.COLORMAP_INFERNO}
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256)
    tables = {}
    for name, cm in cmaps.items():
        tables[name] = cv2.cvtColor(cv2.applyColorMap(ramp, cm), cv2.COLOR_BGR2RGB).reshape(256, 3)
    save('colormap_tables.npy', np.stack([tables[n] for n in cmaps]).astype(np.uint8))  # [4,256,3] RGB
    manifest['colormap_tables'] = list(cmaps)

    # mask values that stress the np.uint8(255 * mask) truncation: k/255 in float32, neighbours, 0, 1
    k = np.arange(256, dtype=np.float64)
    edge = (k / 255.0).astype(np.float32)
    below = np.nextafter(edge, np.float32(-1))
    below[0] = 0
    mask = np.concatenate([edge, below, lcg_f32(88, 41), np.array([0, 1, 0.5, 0.999999, 1e-7], np.float32)])
    mask = mask.astype(np.float32)
    save('colormap_mask.npy', mask)
    outs = []
    for name, cm in cmaps.items():
        heat = cv2.applyColorMap(np.uint8(255 * mask).reshape(1, -1), cm)
        outs.append(cv2.cvtColor(heat, cv2.COLOR_BGR2RGB).reshape(-1, 3))
    save('colormap_applied.npy', np.stack(outs).astype(np.uint8))  # [4, len(mask), 3]

    # ---- overlay: pytorch-grad-cam show_cam_on_image(img_float, mask, use_rgb=True, colormap, image_weight)
    def show_cam_on_image(img, mask, use_rgb, colormap, image_weight):
        heatmap = cv2.applyColorMap(np.uint8(255 * mask), colormap)
        if use_rgb:
            heatmap = cv2.cvtColor(heatmap, cv2.COLOR_BGR2RGB)
        heatmap = np.float32(heatmap) / 255
        cam = (1 - image_weight) * heatmap + image_weight * img
        cam = cam / np.max(cam)
        return np.uint8(255 * cam)

    W, H = 23, 17
    rgb = lcg_u8(W * H * 3, 51).reshape(H, W, 3)
    # keep the image dimmer so max(cam) < 1 in some cases and the division matters
    rgb = (rgb // 2).astype(np.uint8)
    m = lcg_f32(W * H, 52).reshape(H, W)
    m[0, 0] = 0.0
    m[0, 1] = 1.0
    ocases = [('jet', 0.5), ('jet', 0.3), ('viridis', 0.5), ('turbo', 0.8)]
    outs = []
    for name, alpha in ocases:
        outs.append(show_cam_on_image(np.float32(rgb) / 255, m, True, cmaps[name], 1 - alpha))
    m2 = (m * 0.4).astype(np.float32)  # weak map: max(cam) < 1 -> normalisation by max rescales
    outs.append(show_cam_on_image(np.float32(rgb) / 255, m2, True, cv2.COLORMAP_JET, 0.5))
    save('overlay.npy', np.stack(outs).astype(np.uint8))
    manifest['overlay'] = {'w': W, 'h': H, 'img_seed': 51, 'img_halved': True, 'mask_seed': 52,
                           'mask_fixed': {'0': 0.0, '1': 1.0},
                           'cases': [{'colormap': n, 'alpha': a} for n, a in ocases] +
                                    [{'colormap': 'jet', 'alpha': 0.5, 'mask_scale': 0.4}]}

    # ---- .npy files in several dtypes / versions ----------------------------------------------------
    npy_dir = os.path.join(OUT, 'npy')
    os.makedirs(npy_dir, exist_ok=True)
    arrs = {
        'f4': np.array([[1.5, -2.25, 3.0], [0.1, 1e-8, -0.0]], np.float32),
        'f8': np.array([np.pi, -np.e, 1e300], np.float64),
        'i4': np.array([[-1, 2], [2147483647, -2147483648]], np.int32),
        'i8': np.array([-(2 ** 40), 7, 2 ** 53 + 1], np.int64),
        'u1': np.array([[0, 1, 255]], np.uint8),
        'b1': np.array([True, False, True, True]),
        'scalar': np.array(2.5, np.float32),
        'empty': np.zeros((0, 3), np.float32),
        'big4d': np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5),
    }
    for name, a in arrs.items():
        np.save(os.path.join(npy_dir, name + '.npy'), a)
    for ver in [(2, 0), (3, 0)]:
        with open(os.path.join(npy_dir, 'f4_v%d.npy' % ver[0]), 'wb') as f:
            np.lib.format.write_array(f, arrs['f4'], version=ver)
    np.save(os.path.join(npy_dir, 'fortran.npy'), np.asfortranarray(arrs['i4'].astype(np.float32)))
    np.save(os.path.join(npy_dir, 'bigendian.npy'), arrs['f4'].astype('>f4'))
    np.save(os.path.join(npy_dir, 'complex.npy'), np.array([1 + 2j], np.complex64))

    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')

    if '--tables' in sys.argv:
        for name in cmaps:
            print(name, tables[name].reshape(-1).tobytes().hex())


if __name__ == '__main__':
    main()
