"""Deterministic synthetic scene generator for the gradcam demo models.

A scene is a 128x128 RGB image: a random crop (random scale, flip, colour jitter) of a public-domain /
CC0 photograph from Debian's python3-skimage data folder, with one Fashion-MNIST item pasted at a random
position and scale (40-80 px), tinted so that it stands out from the background and blended with an alpha
derived from its own intensity. Every scene comes with exact ground truth: class, tight box and binary
mask of the pasted object. Optionally a small spurious "mark" (a red-white target, 12 px) is drawn in the
bottom-right corner region: that is the shortcut used by the "shortcut" model.

Determinism: scene `index` of a generator built with `seed` is a pure function of (split, seed, index, cls,
mark) -- it draws from numpy.random.RandomState([seed, index]) only, so scenes can be produced in any
order, in parallel, or one at a time.

Geometry conventions:
- box = [x0, y0, x1, y1] in pixels, x1/y1 exclusive (so the box width is x1 - x0).
- mask = uint8 [128, 128] with 1 on the object, 0 elsewhere: mask = (alpha >= 0.5), where alpha is the
  per-pixel opacity used for compositing. box is the tight box of mask.
- No object ever intersects the MARK_ZONE (x >= 100 and y >= 100), whether or not the mark is drawn,
  so the scene geometry does not depend on the mark, and the mark never touches the object.

Used by train.py, evaluate.py and export_assets.py; run this file directly to write a contact sheet for a
quick look: /usr/bin/python3 scripts/demo/scenes.py /tmp/sheet.png
"""

import gzip
import os
import sys

import numpy as np
import cv2

cv2.setNumThreads(1)

SIZE = 128
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
NUM_CLASSES = len(LABELS)

SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data"
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"

# Backgrounds: only skimage data images whose docstring states public domain or CC0 (skimage 0.19.3).
# (name, file, colour?)  -- sources and licences are listed in demo/ASSETS.md.
BACKGROUNDS = [
    ("astronaut", "astronaut.png", True),        # NASA, public domain
    ("coffee", "coffee.png", True),              # Rachel Michetti, CC0
    ("chelsea", "chelsea.png", True),            # Stefan van der Walt, CC0
    ("rocket", "rocket.jpg", True),              # SpaceX, public domain
    ("hubble_deep_field", "hubble_deep_field.jpg", True),  # NASA, public domain
    ("grass", "grass.png", False),               # CC0 (DeviantArt linolafett)
    ("gravel", "gravel.png", False),             # CC0 (CC0Textures)
    ("brick", "brick.png", False),               # CC0 (CC0Textures)
    ("camera", "camera.png", False),             # Lav Varshney, CC0
]

OBJ_MIN, OBJ_MAX = 40, 80          # side of the pasted 28x28 Fashion-MNIST frame, in pixels
MARK_SIZE = 12                     # the spurious mark: a 12x12 red-white target
MARK_ZONE = 100                    # objects avoid [MARK_ZONE, 128) x [MARK_ZONE, 128); the mark lives there
MARK_POS = (104, 114)              # mark top-left x0, y0 drawn uniformly from this (inclusive) range

_cache = {}


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fmnist(split):
    """split: 'train' (60000 items) or 't10k' (10000 items). Returns (images uint8 [N,28,28], labels)."""
    key = ("fmnist", split)
    if key not in _cache:
        imgs = _read_idx(os.path.join(FMNIST_DIR, f"{split}-images-idx3-ubyte.gz"))
        labels = _read_idx(os.path.join(FMNIST_DIR, f"{split}-labels-idx1-ubyte.gz"))
        by_class = [np.nonzero(labels == c)[0] for c in range(NUM_CLASSES)]
        _cache[key] = (imgs, labels.astype(np.int64), by_class)
    return _cache[key]


def load_backgrounds():
    if "bg" not in _cache:
        out = []
        for name, fname, colour in BACKGROUNDS:
            img = cv2.imread(os.path.join(SKIMAGE_DATA, fname), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise FileNotFoundError(os.path.join(SKIMAGE_DATA, fname))
            if img.ndim == 3:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            out.append((name, img.astype(np.float32) / 255.0, colour))
        _cache["bg"] = out
    return _cache["bg"]


def _hsv_to_rgb(h, s, v):
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], np.float32)


def make_background(rng):
    bgs = load_backgrounds()
    b = rng.randint(len(bgs))
    name, img, colour = bgs[b]
    h, w = img.shape[:2]
    side = int(rng.randint(96, min(h, w) + 1))
    y = int(rng.randint(0, h - side + 1))
    x = int(rng.randint(0, w - side + 1))
    crop = img[y:y + side, x:x + side]
    interp = cv2.INTER_AREA if side > SIZE else cv2.INTER_LINEAR
    crop = cv2.resize(crop, (SIZE, SIZE), interpolation=interp)
    if rng.rand() < 0.5:
        crop = crop[:, ::-1]
    if not colour:  # grey texture -> coloured texture through a random per-channel gain
        gain = _hsv_to_rgb(rng.rand(), rng.uniform(0.2, 0.6), 1.0)
        crop = crop[:, :, None] * gain[None, None, :]
    crop = np.ascontiguousarray(crop, dtype=np.float32)
    # colour jitter: brightness, contrast, saturation, per-channel gain
    mean = crop.mean()
    crop = (crop - mean) * rng.uniform(0.7, 1.3) + mean * rng.uniform(0.7, 1.3)
    grey = crop.mean(axis=2, keepdims=True)
    crop = grey + (crop - grey) * rng.uniform(0.6, 1.4)
    crop = crop * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    return np.clip(crop, 0.0, 1.0), name


def draw_mark(img, x0, y0):
    """Red-white-red target, MARK_SIZE px, anti-aliased (4x4 supersampling). img float32 HxWx3 in [0,1]."""
    n = MARK_SIZE
    ss = 4
    c = (n * ss - 1) / 2.0
    yy, xx = np.mgrid[0:n * ss, 0:n * ss]
    r = np.sqrt((yy - c) ** 2 + (xx - c) ** 2) / ss
    red = np.array([0.86, 0.08, 0.10], np.float32)
    white = np.array([1.0, 1.0, 1.0], np.float32)
    col = np.where((r < 2.0)[..., None], red, np.where((r < 4.0)[..., None], white, red))
    cov = (r < 6.0).astype(np.float32)
    col = col * cov[..., None]
    cov = cov.reshape(n, ss, n, ss).mean(axis=(1, 3))
    col = col.reshape(n, ss, n, ss, 3).sum(axis=(1, 3)) / (ss * ss)
    col = col / np.maximum(cov, 1e-6)[..., None]
    patch = img[y0:y0 + n, x0:x0 + n]
    img[y0:y0 + n, x0:x0 + n] = patch * (1 - cov[..., None]) + col * cov[..., None]
    return img


class SceneGenerator:
    """split: 'train' or 't10k' (which Fashion-MNIST items are pasted); seed: int."""

    def __init__(self, split, seed):
        self.split = split
        self.seed = int(seed)

    def scene(self, index, cls=None, mark=False):
        """Returns dict(image=uint8 [128,128,3] RGB, label, box, mask uint8 [128,128], item, background,
        mark_box or None). cls: force the object's class (else random); mark: draw the spurious mark."""
        imgs, labels, by_class = load_fmnist(self.split)
        rng = np.random.RandomState([self.seed, int(index)])
        if cls is None:
            cls = int(rng.randint(NUM_CLASSES))
        else:
            rng.randint(NUM_CLASSES)  # keep the stream aligned whether cls is forced or not
        item = int(by_class[cls][rng.randint(len(by_class[cls]))])

        bg, bg_name = make_background(rng)

        # object: 28x28 intensity -> S x S alpha + shading
        s = int(rng.randint(OBJ_MIN, OBJ_MAX + 1))
        inten = cv2.resize(imgs[item].astype(np.float32) / 255.0, (s, s), interpolation=cv2.INTER_LINEAR)
        inten = np.clip(inten, 0.0, 1.0)
        if rng.rand() < 0.5:
            inten = np.ascontiguousarray(inten[:, ::-1])
        alpha = np.clip((inten - 0.05) / 0.3, 0.0, 1.0)
        ys, xs = np.nonzero(alpha >= 0.5)
        oy0, oy1, ox0, ox1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        # position: the object's tight box must stay off the mark zone
        for _ in range(1000):
            x = int(rng.randint(-ox0, SIZE - ox1 + 1))
            y = int(rng.randint(-oy0, SIZE - oy1 + 1))
            if not (x + ox1 > MARK_ZONE and y + oy1 > MARK_ZONE):
                break
        # visible colour: contrast with the background's luminance under the object
        fx0, fy0 = max(x, 0), max(y, 0)
        fx1, fy1 = min(x + s, SIZE), min(y + s, SIZE)
        lum = float(bg[fy0:fy1, fx0:fx1].mean())
        v = rng.uniform(0.05, 0.35) if lum > 0.5 else rng.uniform(0.7, 1.0)
        col = _hsv_to_rgb(rng.rand(), rng.uniform(0.3, 1.0), v)
        shade = 0.45 + 0.55 * inten  # keep the item's own texture visible
        a = alpha[fy0 - y:fy1 - y, fx0 - x:fx1 - x, None]
        obj = shade[fy0 - y:fy1 - y, fx0 - x:fx1 - x, None] * col[None, None, :]
        img = bg.copy()
        img[fy0:fy1, fx0:fx1] = img[fy0:fy1, fx0:fx1] * (1 - a) + obj * a

        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[fy0:fy1, fx0:fx1] = (a[..., 0] >= 0.5)
        ys, xs = np.nonzero(mask)
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]

        # the mark's position is always drawn (keeps the stream aligned), used only when mark=True
        mx = int(rng.randint(MARK_POS[0], MARK_POS[1] + 1))
        my = int(rng.randint(MARK_POS[0], MARK_POS[1] + 1))
        mark_box = None
        if mark:
            img = draw_mark(img, mx, my)
            mark_box = [mx, my, mx + MARK_SIZE, my + MARK_SIZE]

        image = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
        return dict(image=image, label=int(cls), box=box, mask=mask, item=item, background=bg_name,
                    mark_box=mark_box)


def mask_to_rle(mask):
    """Row-major (C order) run lengths of a binary mask, alternating 0-runs and 1-runs, starting with a
    0-run (possibly of length 0). NOTE: COCO's uncompressed RLE is column-major; this one is row-major."""
    flat = mask.reshape(-1).astype(np.uint8)
    counts = []
    cur, run = 0, 0
    for v in flat:
        if v == cur:
            run += 1
        else:
            counts.append(run)
            cur, run = v, 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "order": "row-major", "counts": counts}


def rle_to_mask(rle):
    h, w = rle["size"]
    flat = np.zeros(h * w, np.uint8)
    pos, val = 0, 0
    for n in rle["counts"]:
        flat[pos:pos + n] = val
        pos += n
        val = 1 - val
    return flat.reshape(h, w)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/scenes_sheet.png"
    gen = SceneGenerator("t10k", 1)
    tiles = []
    for i in range(40):
        sc = gen.scene(i, cls=i % 10, mark=(i >= 30))
        t = sc["image"].copy()
        x0, y0, x1, y1 = sc["box"]
        cv2.rectangle(t, (x0, y0), (x1 - 1, y1 - 1), (0, 255, 0), 1)
        tiles.append(np.concatenate([t, np.repeat(sc["mask"][..., None] * 255, 3, 2)], 0))
    rows = [np.concatenate(tiles[r * 10:(r + 1) * 10], 1) for r in range(4)]
    cv2.imwrite(out, cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    print("wrote", out)
