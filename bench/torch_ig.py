#!/usr/bin/python3
"""Times Integrated Gradients in PyTorch as the baseline of bench/attribution.ts: Captum's own
IntegratedGradients (from the mirror of pytorch/captum, loaded as scripts/fixtures/make_attribution_fixtures.py
does) on torchvision resnet50 (weights=None, seed 100 as make_fixtures.py --bench, eval mode), one seeded
1x3x224x224 input, target 0, n_steps=50, method gausslegendre, internal_batch_size None (Captum's defaults:
all 50 steps in one batch), return_convergence_delta=True (one more forward pair, as our completeness
check). torch.set_num_threads(os.cpu_count()); one warm-up, then the median of --runs calls.

    /usr/bin/python3 bench/torch_ig.py [--runs 3]

Prints {"ig_ms": ...} to stdout.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "fixtures"))
import make_attribution_fixtures as maf  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    ca, commit = maf.load_captum()
    torch.manual_seed(100)
    model = torchvision.models.resnet50(weights=None).eval()
    x = torch.randn([1, 3, 224, 224], generator=torch.Generator().manual_seed(200))
    ig = ca.IntegratedGradients(model)
    run = lambda: ig.attribute(x, target=0, n_steps=50, method="gausslegendre", return_convergence_delta=True)
    run()
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    print(f"captum {commit}: IG runs (ms) {[round(v) for v in times]}", file=sys.stderr)
    print(json.dumps({"ig_ms": statistics.median(times)}))


if __name__ == "__main__":
    main()
