#!/usr/bin/python3
"""PyTorch baseline for bench/family.ts: Score-CAM and Ablation-CAM on torchvision resnet50 (target layer
layer4, 2048 channels of 7x7), computed the way pytorch-grad-cam computes them (its code path,
re-implemented here without the library), on a subset of the channels so that a run stays short on a
2-core machine; bench/family.ts runs the same subset and extrapolates both sides to 2048 channels.

    /usr/bin/python3 bench/torch_family.py [--masks 128] [--ablate 64] [--out-dir .tmp/bench_family]

Model: resnet50(weights=None), torch.manual_seed(100), eval (the weights of bench/models/resnet50.onnx from
`make_fixtures.py --bench`); input 1x3x224x224 from torch.Generator().manual_seed(300), saved as
<out-dir>/input.npy for the TS side; target = the arg-max class (ClassifierOutputTarget).

* scorecam: ScoreCAM.get_cam_weights for the first --masks channels: UpsamplingBilinear2d(224) of the
  activations, per-channel min-max (+1e-8), input × mask, model forward in batches of 16 (pytorch-grad-cam's
  BATCH_SIZE), softmax over the channels' target scores; then get_cam_image, ReLU, scale_cam_image.
* ablationcam: AblationCAM.get_cam_weights for the first --ablate channels: the layer's output replaced by
  the cached activation with one channel ablated per batch row (AblationLayer: 0 when the minimum is 0),
  the whole model re-run in batches of 32 (pytorch-grad-cam's default; the layers before layer4 are
  recomputed, as in pytorch-grad-cam); w = (t - t_c) / t, others 0.
* ablationcam_suffix (not pytorch-grad-cam; for a like-for-like view of gradcam's suffix graph): the
  ablated activations of all 2048 channels through avgpool + fc only, batches of 32.

Timing: torch.set_num_threads(os.cpu_count()), one warm-up forward; wall time and process CPU time
(time.process_time, all threads) of one call each. Prints one JSON object; the maps go to <out-dir>/{scorecam,ablationcam}.npy.
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np
import torch
import torchvision


def scale_cam_image(cam, target_size=None):
    result = []
    for img in cam:
        img = img - np.min(img)
        img = img / (1e-7 + np.max(img))
        if target_size is not None:
            img = cv2.resize(np.float32(img), target_size)
        result.append(img)
    return np.float32(result)


def finish(weights, a):
    cam = (weights[:, :, None, None] * a).sum(axis=1)
    cam = np.maximum(cam, 0)
    cam = scale_cam_image(cam, (224, 224))
    return scale_cam_image(np.maximum(cam[:, None], 0).mean(axis=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masks", type=int, default=128, help="Score-CAM: channels scored (of 2048)")
    ap.add_argument("--ablate", type=int, default=64, help="Ablation-CAM: channels ablated (of 2048)")
    ap.add_argument("--model", default="resnet50", choices=["resnet50", "mobilenet_v2", "vgg16"],
                    help="a bench model (same seed and weights as make_fixtures.py --bench); layer: layer4 / features[18] / features[30]")
    ap.add_argument("--scorecam-only", action="store_true", help="skip Ablation-CAM")
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "..", ".tmp", "bench_family"))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)

    seed, ctor = {"resnet50": (100, torchvision.models.resnet50), "mobilenet_v2": (101, torchvision.models.mobilenet_v2),
                  "vgg16": (102, torchvision.models.vgg16)}[args.model]
    torch.manual_seed(seed)
    model = ctor(weights=None).eval()
    x = torch.randn([1, 3, 224, 224], generator=torch.Generator().manual_seed(300))
    np.save(os.path.join(args.out_dir, "input.npy"), x.numpy())
    layer = model.layer4 if args.model == "resnet50" else model.features[-1]
    acts = {}
    h = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    with torch.no_grad():
        model(x)  # warm-up
        t0 = time.perf_counter()
        logits = model(x)
        forward_ms = (time.perf_counter() - t0) * 1000
    h.remove()
    a = acts["a"].numpy()
    target = int(np.argmax(logits.numpy()[0]))
    dead = [int(c) for c in range(a.shape[1]) if a[0, c].max() == a[0, c].min()]
    result = {"torch": torch.__version__, "threads": threads, "target": target, "forward_ms": round(forward_ms, 1),
              "dead_channels": len(dead), "dead_in_masks": sum(1 for c in dead if c < args.masks)}

    # ---- Score-CAM (pytorch-grad-cam ScoreCAM.get_cam_weights on a channel subset) ----
    M = args.masks
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        h = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
        model(x)
        h.remove()
        act = acts["a"][:, :M]
        upsampled = torch.nn.UpsamplingBilinear2d(size=x.shape[-2:])(act)
        maxs = upsampled.view(upsampled.size(0), upsampled.size(1), -1).max(dim=-1)[0][:, :, None, None]
        mins = upsampled.view(upsampled.size(0), upsampled.size(1), -1).min(dim=-1)[0][:, :, None, None]
        upsampled = (upsampled - mins) / (maxs - mins + 1e-8)
        input_tensors = x[:, None, :, :] * upsampled[:, :, None, :, :]
        scores = []
        for tensor in input_tensors:
            for i in range(0, tensor.size(0), 16):
                batch = tensor[i: i + 16, :]
                scores.extend([o[target].cpu().item() for o in model(batch)])
        scores = torch.Tensor(scores).view(1, M)
        w = torch.nn.Softmax(dim=-1)(scores).numpy()
    weights = np.zeros((1, a.shape[1]), np.float32)
    weights[:, :M] = w
    cam = finish(weights, a)
    result["scorecam"] = {"channels": M, "batch": 16, "ms": round((time.perf_counter() - t0) * 1000, 1),
                          "cpu_ms": round((time.process_time() - c0) * 1000, 1)}
    np.save(os.path.join(args.out_dir, "scorecam.npy"), cam)
    print(f"torch scorecam: {result['scorecam']}", file=sys.stderr)

    if args.scorecam_only:
        print(json.dumps(result))
        return

    # ---- Ablation-CAM (pytorch-grad-cam AblationCAM.get_cam_weights on a channel subset) ----
    A = args.ablate
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        h = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
        original = model(x)[0, target].item()
        h.remove()
        cached = acts["a"]
        new_scores = []
        for i in range(0, A, 32):
            idx = list(range(i, min(A, i + 32)))
            out = cached[0:1].clone().repeat(len(idx), 1, 1, 1)
            for j, k in enumerate(idx):
                if torch.min(out) == 0:
                    out[j, k, :] = 0
                else:
                    out[j, k, :] = torch.min(out) - 1e7
            h = layer.register_forward_hook(lambda m, inp, o, out=out: out)
            new_scores.extend([o[target].item() for o in model(x.repeat(len(idx), 1, 1, 1))])
            h.remove()
    ws = np.full((1, a.shape[1]), np.float32(original), np.float32)
    ws[0, :A] = np.float32(new_scores)
    o = np.float32([[original]])
    cam = finish((o - ws) / o, a)
    result["ablationcam"] = {"channels": A, "batch": 32, "ms": round((time.perf_counter() - t0) * 1000, 1),
                             "cpu_ms": round((time.process_time() - c0) * 1000, 1), "layer_min": float(a.min())}
    np.save(os.path.join(args.out_dir, "ablationcam.npy"), cam)
    print(f"torch ablationcam: {result['ablationcam']}", file=sys.stderr)

    # ---- Ablation through avgpool + fc only (all channels) ----
    C = a.shape[1]
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        scores = []
        for i in range(0, C, 32):
            idx = list(range(i, min(C, i + 32)))
            out = cached[0:1].clone().repeat(len(idx), 1, 1, 1)
            for j, k in enumerate(idx):
                out[j, k] = 0
            scores.extend(model.fc(torch.flatten(model.avgpool(out), 1))[:, target].tolist())
    result["ablationcam_suffix"] = {"channels": C, "batch": 32, "ms": round((time.perf_counter() - t0) * 1000, 1),
                                    "cpu_ms": round((time.process_time() - c0) * 1000, 1)}
    print(f"torch ablationcam (avgpool+fc only): {result['ablationcam_suffix']}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
