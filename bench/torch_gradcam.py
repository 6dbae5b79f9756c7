#!/usr/bin/python3
"""Times Grad-CAM in PyTorch, computed the way pytorch-grad-cam does it, as the baseline for the ONNX
gradient-graph Grad-CAM (bench/gradcam.ts).

    /usr/bin/python3 bench/torch_gradcam.py [--runs 5] [--warmup 1] [--models resnet50,mobilenet_v2]
                                            [--batches 1,8]

Models: torchvision resnet50 (target layer: layer4) and mobilenet_v2 (target layer: features[-1]),
weights=None with the same seeds as `make_fixtures.py --bench` (so they match bench/models/*.onnx), eval
mode, input Nx3x224x224 (seeded random). One Grad-CAM run is what pytorch-grad-cam's GradCAM.__call__ does
for one target layer:
  forward with a forward hook that stores the activation and registers a tensor hook for its gradient
  (ActivationsAndGradients), targets = argmax of the outputs, loss = sum of the target logits,
  model.zero_grad(), loss.backward(retain_graph=True) (parameters keep requires_grad, as in
  pytorch-grad-cam), weights = mean of grads over (h, w), weighted sum over channels, ReLU, per image
  min/max scaling + cv2.resize to 224x224, then aggregate_multi_layers (ReLU, mean, scale).
The forward baseline is a plain `model(x)` under torch.no_grad().

Timing: torch.set_num_threads(os.cpu_count()); `--warmup` calls, then up to `--runs` timed calls (at
least 3; fewer than --runs once a measurement has taken `--budget-s` seconds); the median is reported.

Prints one JSON object to stdout:
  {"resnet50": {"1": {"gradcam_ms": .., "forward_ms": ..}, "8": {..}}, "mobilenet_v2": {..}}
(median wall time per call in milliseconds); details go to stderr.
"""
import argparse
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np
import torch
import torchvision

MODELS = {
    # name: (constructor, seed as in make_fixtures.py --bench, target layer)
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), 100, lambda m: m.layer4[-1]),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), 101, lambda m: m.features[-1]),
}


def scale_cam_image(cam, target_size=None):
    result = []
    for img in cam:
        img = img - np.min(img)
        img = img / (1e-7 + np.max(img))
        if target_size is not None:
            img = cv2.resize(img, target_size)
        result.append(img)
    return np.float32(result)


class GradCAM:
    """The pytorch-grad-cam GradCAM code path for a single target layer, without the library."""

    def __init__(self, model, target_layer):
        self.model = model
        self.activations = []
        self.gradients = []
        self.handles = [target_layer.register_forward_hook(self.save_activation),
                        target_layer.register_forward_hook(self.save_gradient)]

    def release(self):
        for h in self.handles:
            h.remove()

    def save_activation(self, module, inp, output):
        self.activations.append(output.cpu().detach())

    def save_gradient(self, module, inp, output):
        if not hasattr(output, "requires_grad") or not output.requires_grad:
            return

        def _store_grad(grad):
            self.gradients = [grad.cpu().detach()] + self.gradients
        output.register_hook(_store_grad)

    def __call__(self, input_tensor):
        self.activations, self.gradients = [], []
        outputs = self.model(input_tensor)
        target_categories = np.argmax(outputs.cpu().data.numpy(), axis=-1)
        self.model.zero_grad()
        loss = sum(output[int(c)] for c, output in zip(target_categories, outputs))
        loss.backward(retain_graph=True)
        activations = self.activations[0].numpy()
        grads = self.gradients[0].numpy()
        weights = np.mean(grads, axis=(2, 3))
        cam = (weights[:, :, None, None] * activations).sum(axis=1)
        cam = np.maximum(cam, 0)
        width, height = input_tensor.size(-1), input_tensor.size(-2)
        cam = scale_cam_image(cam, (width, height))
        cam = np.maximum(cam[:, None], 0).mean(axis=1)
        return scale_cam_image(cam)


def time_it(fn, warmup, runs, budget_s, min_runs=3):
    """Median wall time in ms over up to `runs` calls after `warmup` calls; stops early once at least
    `min_runs` calls took more than `budget_s` seconds together (keeps batch 8 on 2 cores short)."""
    for _ in range(warmup):
        fn()
    times = []
    while len(times) < runs:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
        if len(times) >= min_runs and sum(times) > budget_s * 1000.0:
            break
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--budget-s", type=float, default=5.0,
                    help="per measurement: stop after 3 runs once this many seconds are spent")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,8")
    args = ap.parse_args()

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} threads, warmup {args.warmup}, runs <= {args.runs}",
          file=sys.stderr)
    result = {}
    for name in args.models.split(","):
        ctor, seed, layer_of = MODELS[name]
        torch.manual_seed(seed)
        model = ctor().eval()
        result[name] = {}
        for batch in [int(b) for b in args.batches.split(",")]:
            x = torch.randn([batch, 3, 224, 224], generator=torch.Generator().manual_seed(1000 + batch))

            def forward():
                with torch.no_grad():
                    model(x)

            forward_ms, f_all = time_it(forward, args.warmup, args.runs, args.budget_s)   # no hooks attached
            cam = GradCAM(model, layer_of(model))
            maps = cam(x)   # sanity check; also the first warmup call
            assert maps.shape == (batch, 224, 224) and maps.dtype == np.float32 and maps.max() > 0
            gradcam_ms, g_all = time_it(lambda: cam(x), max(0, args.warmup - 1), args.runs, args.budget_s)
            cam.release()
            result[name][str(batch)] = {"gradcam_ms": round(gradcam_ms, 2), "forward_ms": round(forward_ms, 2)}
            print(f"{name} batch {batch}: gradcam {[round(t, 1) for t in g_all]} ms, "
                  f"forward {[round(t, 1) for t in f_all]} ms", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
