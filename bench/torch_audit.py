#!/usr/bin/python3
"""The PyTorch baseline for bench/audit.ts: a plain loop doing what `gradcam audit` does per image, with
Grad-CAM computed the way pytorch-grad-cam does it (bench/torch_gradcam.py's GradCAM class).

    /usr/bin/python3 bench/torch_audit.py --manifest M.csv --out DIR [--batch 8] [--threads N] [--limit K]

Per batch of the manifest (path,label,boxes "x0 y0 x1 y1"):
  cv2.imread + BGR->RGB, resize to 224x224 (cv2 INTER_LINEAR), /255, ImageNet mean/std, NCHW batch;
  Grad-CAM on resnet50 layer4 for the predicted class (forward with hooks, backward, weights = mean of
  gradients, ReLU, min/max scaling, cv2.resize to 224x224); softmax scores;
  per image: the map resized to the image (cv2.resize), energy inside the box, peak, coverage (map >= 0.5),
  two 128-px thumbnails (image; show_cam_on_image overlay), each written to a temporary file, fsync'ed
  and renamed; then the batch's rows appended to results.jsonl and fsync'ed.
Model: torchvision resnet50, weights=None, seed 100 (as make_fixtures.py --bench, so it matches
bench/models/resnet50.onnx), eval mode, torch.set_num_threads(--threads or os.cpu_count()).

Prints one JSON line: {"e2e_ips", "steady_ips", "wall_s", "batch", "threads"}; e2e includes building the
model, steady excludes the first batch.
"""
import argparse
import csv
import json
import os
import sys
import time

import cv2
import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gradcam import GradCAM  # noqa: E402  (pytorch-grad-cam's code path)

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def write_atomic(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def show_cam_on_image(img, mask, image_weight=0.5):
    """pytorch-grad-cam's show_cam_on_image (use_rgb=True, COLORMAP_JET)."""
    heatmap = cv2.applyColorMap(np.uint8(255 * mask), cv2.COLORMAP_JET)
    heatmap = cv2.cvtColor(heatmap, cv2.COLOR_BGR2RGB)
    heatmap = np.float32(heatmap) / 255
    cam = (1 - image_weight) * heatmap + image_weight * img
    cam = cam / np.max(cam)
    return np.uint8(255 * cam)


def thumb(img, size=128):
    h, w = img.shape[:2]
    s = min(1.0, size / max(h, w))
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def png(rgb):
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="only the first LIMIT images of the manifest")
    args = ap.parse_args()
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)

    t0 = time.perf_counter()
    with open(args.manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    if args.limit:
        rows = rows[:args.limit]
    base = os.path.dirname(args.manifest)
    os.makedirs(os.path.join(args.out, "thumbs"), exist_ok=True)
    torch.manual_seed(100)
    model = torchvision.models.resnet50(weights=None).eval()
    cam = GradCAM(model, model.layer4[-1])
    logits = {}
    model.register_forward_hook(lambda mod, inp, out: logits.__setitem__("out", out.detach()))
    results = open(os.path.join(args.out, "results.jsonl"), "a")
    t_first = None
    done_first = 0
    for s in range(0, len(rows), args.batch):
        batch = rows[s:s + args.batch]
        imgs = []
        for r in batch:
            bgr = cv2.imread(os.path.join(base, r["path"]), cv2.IMREAD_COLOR)
            imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        x = np.stack([(cv2.resize(im, (224, 224), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255 - MEAN) / STD
                      for im in imgs]).transpose(0, 3, 1, 2)
        xt = torch.from_numpy(np.ascontiguousarray(x))
        maps = cam(xt)  # forward + backward, as pytorch-grad-cam
        probs = torch.softmax(logits["out"], 1)
        top = probs.argmax(1)
        lines = []
        for k, (r, im, m) in enumerate(zip(batch, imgs, maps)):
            h, w = im.shape[:2]
            full = cv2.resize(m, (w, h))
            x0, y0, x1, y1 = [int(float(v)) for v in r["boxes"].split()]
            total = float(full.sum())
            energy = float(full[y0:y1, x0:x1].sum()) / total if total > 0 else None
            py, px = np.unravel_index(int(np.argmax(full)), full.shape)
            small = thumb(im)
            sm = cv2.resize(m, (small.shape[1], small.shape[0]))
            ov = show_cam_on_image(np.float32(small) / 255, sm)
            stem = os.path.splitext(r["path"])[0]
            write_atomic(os.path.join(args.out, "thumbs", f"{stem}.png"), png(small))
            write_atomic(os.path.join(args.out, "thumbs", f"{stem}.cam.png"), png(ov))
            lines.append(json.dumps({"key": r["path"], "index": s + k, "status": "ok",
                                     "predicted": int(top[k]), "probability": float(probs[k, top[k]]),
                                     "energy_in_object": energy, "peak": [int(px), int(py)],
                                     "coverage": float((full >= 0.5).mean())}))
        results.write("".join(line + "\n" for line in lines))
        results.flush()
        os.fsync(results.fileno())
        if t_first is None:
            t_first = time.perf_counter()
            done_first = len(batch)
    t1 = time.perf_counter()
    results.close()
    n = len(rows)
    print(json.dumps({"images": n, "e2e_ips": round(n / (t1 - t0), 2),
                      "steady_ips": round((n - done_first) / (t1 - t_first), 2) if n > done_first else None,
                      "wall_s": round(t1 - t0, 2), "batch": args.batch, "threads": threads}))


if __name__ == "__main__":
    main()
