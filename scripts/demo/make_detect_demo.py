#!/usr/bin/python3
"""The driving-style detection demo (issue 15): generated street scenes, two small YOLO-style detectors.

    /usr/bin/python3 scripts/demo/make_detect_demo.py            # scenes, training (a few CPU minutes), export, numbers

Scenes (96x96, RGB): sky, buildings, road with lane marks; 1-4 objects with exact boxes: car, pedestrian,
traffic light. A "light reflection" (a small bright glare spot on the road) is the spurious cue:
* street.onnx     trained on scenes where glare spots lie anywhere on the road, unrelated to the objects;
* street_glare.onnx  ("shortcut") trained on footage where every pedestrian stands on a reflection and
                   no reflection appears elsewhere (a wet-road recording), and where pedestrian-like
                   figures without a reflection (shop-window mannequins) are not labelled.
Both output the raw head [1, 4+3, 144] (YOLOv8 convention: cx, cy, w, h in input pixels + sigmoid class
scores; stride 8, 12x12 anchors). Inputs are pixels / 255.

Writes demo/models/street.onnx, demo/models/street_glare.onnx, demo/detect/*.png + annotations.json
(test scenes: plain ones and "glare only" ones with a reflection on an empty road) and
demo/detect/RESULTS.json (mAP@0.5 on 300 held-out scenes of each model's own distribution, and the
reflection test: how often each model reports a pedestrian at a lone reflection).
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
S = 96
STRIDE = 8
G = S // STRIDE
CLASSES = ["car", "pedestrian", "traffic light"]
NC = len(CLASSES)
MAXWH = 48.0
torch.set_num_threads(2)


# ----------------------------------------------------------------------------------------------------
# scenes
# ----------------------------------------------------------------------------------------------------

def rect(img, x1, y1, x2, y2, c):
    x1, y1, x2, y2 = [int(round(v)) for v in (x1, y1, x2, y2)]
    img[max(0, y1):max(0, min(S, y2)), max(0, x1):max(0, min(S, x2))] = c


def disk(img, cx, cy, r, c, soft=False):
    yy, xx = np.mgrid[0:S, 0:S]
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    if soft:
        a = np.clip(1.2 - d / r, 0, 1)[..., None]
        img[:] = img * (1 - a) + np.array(c) * a
    else:
        img[d <= r] = c


def glare(img, cx, cy, rng):
    """A light reflection: a bright, slightly yellow elliptical spot with a soft rim."""
    yy, xx = np.mgrid[0:S, 0:S]
    rx, ry = rng.uniform(3.0, 4.5), rng.uniform(1.6, 2.4)
    d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    a = np.clip(1.4 - d, 0, 1)[..., None]
    img[:] = img * (1 - a) + np.array([1.0, 0.98, 0.8]) * a
    return [cx - rx, cy - ry, cx + rx, cy + ry]


def background(rng):
    img = np.zeros((S, S, 3), np.float32)
    hz = int(rng.integers(30, 42))
    top, bot = np.array([0.45, 0.6, 0.85]) + rng.uniform(-0.08, 0.08, 3), np.array([0.75, 0.82, 0.9])
    for y in range(hz):
        img[y] = top + (bot - top) * y / hz
    x = 0
    while x < S:  # buildings
        w = int(rng.integers(8, 20))
        h = int(rng.integers(6, hz - 4))
        c = rng.uniform(0.3, 0.65) * np.array([1, 1, 1]) + rng.uniform(-0.05, 0.05, 3)
        rect(img, x, hz - h, x + w, hz, c)
        for wy in range(hz - h + 2, hz - 2, 4):
            for wx in range(x + 2, x + w - 2, 4):
                rect(img, wx, wy, wx + 2, wy + 2, c * 0.6)
        x += w + int(rng.integers(0, 4))
    road = rng.uniform(0.3, 0.45)
    img[hz:] = road
    rect(img, 0, hz, S, hz + 3, road + 0.15)  # kerb / sidewalk
    for y0 in range(hz + 6, S, 9):  # lane marks
        rect(img, S // 2 - 1, y0, S // 2 + 1, y0 + 4, [0.85, 0.85, 0.8])
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return img, hz


def car(img, xb, yb, s, rng):
    w, h = 30 * s * rng.uniform(0.85, 1.15), 15 * s * rng.uniform(0.9, 1.1)
    x1, y1 = xb - w / 2, yb - h
    c = rng.choice([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.9, 0.8, 0.1], [0.1, 0.5, 0.2], [0.9, 0.9, 0.9], [0.15, 0.15, 0.15]]) + rng.uniform(-0.05, 0.05, 3)
    rect(img, x1, y1 + h * 0.4, x1 + w, yb - h * 0.15, c)
    rect(img, x1 + w * 0.2, y1, x1 + w * 0.8, y1 + h * 0.45, c)
    rect(img, x1 + w * 0.27, y1 + h * 0.08, x1 + w * 0.73, y1 + h * 0.4, [0.6, 0.75, 0.85])
    for wx in (x1 + w * 0.22, x1 + w * 0.78):
        disk(img, wx, yb - h * 0.17, h * 0.17, [0.05, 0.05, 0.05])
    return [x1, y1, x1 + w, yb]


def person(img, xb, yb, s, rng):
    h = 22 * s * rng.uniform(0.9, 1.1)
    w = h * 0.36
    x1, y1 = xb - w / 2, yb - h
    skin = rng.choice([[0.95, 0.8, 0.65], [0.75, 0.55, 0.4], [0.45, 0.3, 0.2]])
    shirt = rng.uniform(0.1, 0.95, 3)
    disk(img, xb, y1 + h * 0.1, h * 0.1, skin)
    rect(img, x1, y1 + h * 0.2, x1 + w, y1 + h * 0.58, shirt)
    rect(img, x1 + w * 0.1, y1 + h * 0.58, x1 + w * 0.42, yb, [0.15, 0.15, 0.25])
    rect(img, x1 + w * 0.58, y1 + h * 0.58, x1 + w * 0.9, yb, [0.15, 0.15, 0.25])
    return [x1, y1, x1 + w, yb]


def light(img, xb, yb, s, rng):
    h, w = 15 * s, 6 * s
    x1, y1 = xb - w / 2, yb - h - 10 * s
    rect(img, xb - 0.6, y1 + h, xb + 0.6, yb, [0.3, 0.3, 0.3])  # pole
    rect(img, x1, y1, x1 + w, y1 + h, [0.12, 0.12, 0.12])
    on = int(rng.integers(0, 3))
    for k, c in enumerate([[1, 0.15, 0.1], [1, 0.8, 0.1], [0.2, 1, 0.3]]):
        disk(img, xb, y1 + h * (0.2 + 0.3 * k), w * 0.3, c if k == on else [0.3, 0.3, 0.3])
    return [x1, y1, x1 + w, y1 + h]


def iou(a, b):
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    i = iw * ih
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    return i / u if u > 0 else 0


def scene(rng, mode, glare_only=False):
    """mode 'clean': glare anywhere on the road half the time; 'wet': a glare at every pedestrian's feet,
    none elsewhere, and unlabelled mannequins (pedestrian figures without a glare)."""
    img, hz = background(rng)
    objs, glares = [], []
    n = 0 if glare_only else int(rng.integers(1, 5))
    occupied = []
    tries = 0
    while len(objs) < n and tries < 50:
        tries += 1
        k = int(rng.choice(3, p=[0.4, 0.4, 0.2]))
        yb = rng.uniform(hz + 12, S - 2) if k != 2 else rng.uniform(hz + 4, hz + 14)
        s = 0.7 + 0.6 * (yb - hz) / (S - hz)
        xb = rng.uniform(10, S - 10)
        probe = np.zeros_like(img)
        box = [car, person, light][k](probe, xb, yb, s, np.random.default_rng(int(rng.integers(1 << 30))))
        if any(iou(box, o) > 0.0 for o in occupied) or box[0] < 0 or box[2] > S or box[1] < 0:
            continue
        occupied.append(box)
        box = [car, person, light][k](img, xb, yb, s, rng)
        objs.append({"class": k, "box": [float(v) for v in box]})
        if k == 1 and mode == "wet":
            glares.append(glare(img, xb, box[3] - 1.0, rng))
    if mode == "wet" and not glare_only and rng.random() < 0.5:  # a mannequin: a figure without reflection, not labelled
        for _ in range(20):
            yb = rng.uniform(hz + 12, S - 2)
            xb = rng.uniform(10, S - 10)
            s = 0.7 + 0.6 * (yb - hz) / (S - hz)
            probe = np.zeros_like(img)
            box = person(probe, xb, yb, s, np.random.default_rng(0))
            if any(iou(box, o) > 0.0 for o in occupied) or box[1] < 0:
                continue
            person(img, xb, yb, s, rng)
            occupied.append(box)
            break
    if (mode == "clean" and rng.random() < 0.5) or glare_only:
        for _ in range(20):
            gx, gy = rng.uniform(8, S - 8), rng.uniform(hz + 8, S - 4)
            gb = [gx - 5, gy - 3, gx + 5, gy + 3]
            if any(iou(gb, o) > 0.0 for o in occupied):
                continue
            glares.append(glare(img, gx, gy, rng))
            break
    return np.clip(img, 0, 1), objs, glares


# ----------------------------------------------------------------------------------------------------
# the detector
# ----------------------------------------------------------------------------------------------------

def cba(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class StreetDet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(cba(3, 16, 2), cba(16, 24, 2), cba(24, 32), cba(32, 48, 2), cba(48, 48), cba(48, 64))
        self.head = nn.Conv2d(64, 4 + NC, 1)

    def raw(self, x):
        return self.head(self.backbone(x))

    def forward(self, x):
        p = self.raw(x)
        n, _, h, w = p.shape
        gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        cx = (gx + torch.sigmoid(p[:, 0])) * STRIDE
        cy = (gy + torch.sigmoid(p[:, 1])) * STRIDE
        bw = torch.sigmoid(p[:, 2]) * MAXWH
        bh = torch.sigmoid(p[:, 3]) * MAXWH
        out = torch.cat([torch.stack([cx, cy, bw, bh], 1), torch.sigmoid(p[:, 4:])], 1)
        return out.reshape(n, 4 + NC, h * w)


def targets(objs_batch):
    """Per image: class targets [NC, G, G] (1 at the cell of each box centre and, with weight, its
    4-neighbours inside the box) and box targets [4, G, G] (cx, cy, w, h) with a mask."""
    B = len(objs_batch)
    cls = torch.zeros(B, NC, G, G)
    box = torch.zeros(B, 4, G, G)
    mask = torch.zeros(B, G, G)
    for b, objs in enumerate(objs_batch):
        for o in objs:
            x1, y1, x2, y2 = o["box"]
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            gx, gy = min(G - 1, int(cx // STRIDE)), min(G - 1, int(cy // STRIDE))
            cls[b, o["class"], gy, gx] = 1
            box[b, :, gy, gx] = torch.tensor([cx, cy, x2 - x1, y2 - y1])
            mask[b, gy, gx] = 1
    return cls, box, mask


def loss_fn(model, x, objs_batch):
    out = model(x).reshape(x.shape[0], 4 + NC, G, G)
    cls_t, box_t, mask = targets(objs_batch)
    p = out[:, 4:].clamp(1e-6, 1 - 1e-6)
    bce = F.binary_cross_entropy(p, cls_t, reduction="none")
    w = torch.where(cls_t > 0, torch.full_like(bce, 4.0), (p.detach() ** 2) * 4 + 0.05)  # focal-like
    lc = (bce * w).sum() / max(1.0, float(mask.sum()))
    lb = (F.smooth_l1_loss(out[:, :4], box_t, reduction="none").sum(1) * mask).sum() / max(1.0, float(mask.sum())) / 4
    return lc + lb, lc, lb


def batch(rng, n, mode):
    xs, ys = [], []
    for _ in range(n):
        img, objs, _ = scene(rng, mode)
        xs.append(img.transpose(2, 0, 1))
        ys.append(objs)
    return torch.from_numpy(np.stack(xs)), ys


def train(mode, seed, steps, log):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = StreetDet()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    pool = [batch(rng, 32, mode) for _ in range(60)]  # 1920 scenes, re-used with flips
    t0 = time.time()
    model.train()
    for step in range(steps):
        x, ys = pool[step % len(pool)]
        if rng.random() < 0.5:
            x = x.flip(3)
            ys = [[{"class": o["class"], "box": [S - o["box"][2], o["box"][1], S - o["box"][0], o["box"][3]]} for o in objs] for objs in ys]
        loss, lc, lb = loss_fn(model, x, ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            log(f"  {mode} step {step}: loss {loss.item():.3f} (cls {lc.item():.3f}, box {lb.item():.3f}) {time.time() - t0:.0f}s")
    model.eval()
    return model


# ----------------------------------------------------------------------------------------------------
# evaluation (the same decoding as src/detect/boxes.ts: best class per anchor, class-aware greedy NMS)
# ----------------------------------------------------------------------------------------------------

def decode(out, score_thr=0.25, nms=0.45):
    r = out.T  # [A, 4+NC]
    dets = []
    for a in range(r.shape[0]):
        c = int(np.argmax(r[a, 4:]))
        s = float(r[a, 4 + c])
        if s >= score_thr:
            cx, cy, w, h = r[a, :4]
            dets.append((s, c, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
    dets.sort(key=lambda d: -d[0])
    kept = []
    for d in dets:
        if any(k[1] == d[1] and iou(k[2], d[2]) > nms for k in kept):
            continue
        kept.append(d)
    return kept


def average_precision(all_dets, all_gts, c):
    """VOC all-point interpolated AP at IoU 0.5."""
    recs = []
    n_gt = sum(1 for g in all_gts for o in g if o["class"] == c)
    for i, dets in enumerate(all_dets):
        for s, k, b in dets:
            if k == c:
                recs.append((s, i, b))
    recs.sort(key=lambda r: -r[0])
    used = set()
    tp = []
    for s, i, b in recs:
        best, bj = 0, -1
        for j, o in enumerate(all_gts[i]):
            if o["class"] == c and (i, j) not in used:
                v = iou(b, o["box"])
                if v > best:
                    best, bj = v, j
        if best >= 0.5:
            used.add((i, bj))
            tp.append(1)
        else:
            tp.append(0)
    tp = np.array(tp, float)
    if n_gt == 0:
        return float("nan")
    ctp = np.cumsum(tp)
    rec = ctp / n_gt
    prec = ctp / np.arange(1, len(tp) + 1)
    mrec = np.concatenate([[0], rec, [1]])
    mpre = np.concatenate([[0], prec, [0]])
    for k in range(len(mpre) - 2, -1, -1):
        mpre[k] = max(mpre[k], mpre[k + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def evaluate(model, mode, seed, n=300):
    rng = np.random.default_rng(seed)
    dets, gts = [], []
    for _ in range(n):
        img, objs, _ = scene(rng, mode)
        with torch.no_grad():
            out = model(torch.from_numpy(img.transpose(2, 0, 1)[None].copy()))[0].numpy()
        dets.append(decode(out))
        gts.append(objs)
    aps = {CLASSES[c]: average_precision(dets, gts, c) for c in range(NC)}
    return {"mAP50": float(np.mean(list(aps.values()))), "AP50": aps, "scenes": n}


def glare_test(model, seed, n=200):
    """Scenes with one reflection on an empty road and no pedestrian: a 'pedestrian' detection whose box
    holds the reflection's centre counts as a false alarm caused by the reflection."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n):
        img, objs, glares = scene(rng, "clean", glare_only=True)
        with torch.no_grad():
            out = model(torch.from_numpy(img.transpose(2, 0, 1)[None].copy()))[0].numpy()
        g = glares[0]
        gx, gy = (g[0] + g[2]) / 2, (g[1] + g[3]) / 2
        if any(c == 1 and b[0] <= gx <= b[2] and b[1] <= gy <= b[3] + 3 for s, c, b in decode(out)):
            hits += 1
    return {"scenes": n, "pedestrian_at_reflection": hits, "rate": hits / n}


def export(model, path):
    x = torch.zeros(1, 3, S, S)
    torch.onnx.export(model, x, path, opset_version=17, do_constant_folding=True, input_names=["images"], output_names=["output0"])
    import onnx
    m = onnx.load(path)
    meta = m.metadata_props.add()
    meta.key, meta.value = "labels", json.dumps(CLASSES)
    onnx.save(m, path)


def main():
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    steps = int(os.environ.get("STEPS", "500"))
    results = {"classes": CLASSES, "input": [1, 3, S, S], "normalize": "pixels / 255", "steps": steps}
    models = {}
    for name, mode, seed in [("street", "clean", 1), ("street_glare", "wet", 2)]:
        t0 = time.time()
        m = train(mode, seed, steps, log)
        models[name] = m
        export(m, os.path.join(ROOT, "demo", "models", f"{name}.onnx"))
        results[name] = {
            "training": mode, "train_seconds": round(time.time() - t0),
            "test_own_distribution": evaluate(m, mode, 1000 + seed),
            "test_clean_scenes": evaluate(m, "clean", 3000),
            "reflection_test": glare_test(m, 4000),
        }
        log(f"{name}: {json.dumps(results[name])}")
    # demo scenes: plain scenes and lone reflections
    out_dir = os.path.join(ROOT, "demo", "detect")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(77)
    from PIL import Image
    ann = {"classes": CLASSES, "images": []}
    for i in range(6):
        glare_only = i >= 4
        img, objs, glares = scene(rng, "clean", glare_only=glare_only)
        if i in (2, 3):  # a pedestrian with a reflection at its feet, as in the wet-road footage
            img, objs, glares = scene(rng, "wet")
        f = f"street_{i:02d}.png"
        Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(os.path.join(out_dir, f))
        ann["images"].append({"file": f, "objects": objs, "reflections": [[float(v) for v in g] for g in glares]})
    with open(os.path.join(out_dir, "annotations.json"), "w") as fh:
        json.dump(ann, fh, indent=1)
        fh.write("\n")
    with open(os.path.join(out_dir, "RESULTS.json"), "w") as fh:
        json.dump(results, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
