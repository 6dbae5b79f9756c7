#!/usr/bin/python3
"""Trains the medical demo's two small models on the phantoms (issue 16) with Debian's PyTorch (CPU):

    npx tsx scripts/demo/medical/make_training.ts /tmp/medtrain 600 2000
    /usr/bin/python3 scripts/demo/medical/train_medical.py /tmp/medtrain [both|2d|3d]

* demo/models/med3d.onnx: a 3-D CNN, input [N,1,32,32,32] (CT window 40/400 -> [0,1]), classes
  normal / lesion; Grad-CAM layer: the last block's ReLU, 8x8x8 (a stride-2 stem, a pool, two blocks).
* demo/models/med2d.onnx: a 2-D CNN on 1-channel 64x64 16-bit chest-like slices (v / 65535).
Both end in global average pooling + Linear; labels are in the ONNX metadata ('labels'). The last fifth of
each set is held out; the accuracies printed here are on it (the demo measures its own on new seeds).
"""
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn

torch.set_num_threads(2)
torch.manual_seed(0)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")


def block3(cin, cout):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU())


def block2(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class Med3d(nn.Module):
    def __init__(self):
        super().__init__()
        # a stride-2 stem keeps it to a few minutes of a shared 2-core CPU; the Grad-CAM grid is 8x8x8
        self.features = nn.Sequential(nn.Conv3d(1, 8, 3, stride=2, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                                      nn.MaxPool3d(2), block3(8, 16), block3(16, 24))
        self.head = nn.Linear(24, 2)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3, 4)))


class Med2d(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(block2(1, 12), nn.MaxPool2d(2), block2(12, 24), nn.MaxPool2d(2), block2(24, 32))
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def train(model, x, y, epochs, batch, lr, name, budget_s):
    n = len(x)
    cut = n * 4 // 5
    xt, yt, xv, yv = x[:cut], y[:cut], x[cut:], y[cut:]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    t0 = time.time()
    best, best_state = -1.0, None
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(cut)
        for i in range(0, cut, batch):
            idx = perm[i:i + batch]
            xb = xt[idx]
            if xb.dim() == 5:  # flips keep the lesions' meaning
                if torch.rand(1) < 0.5: xb = xb.flip(4)
                if torch.rand(1) < 0.5: xb = xb.flip(2)
            elif torch.rand(1) < 0.5:
                xb = xb.flip(3)
            loss = nn.functional.cross_entropy(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(xv).argmax(1) == yv).float().mean().item()
        print(f"{name} epoch {ep + 1}: loss {loss.item():.3f} held-out accuracy {acc:.3f} ({time.time() - t0:.0f} s)", flush=True)
        if acc > best:  # the best epoch on the held-out fifth is kept (BatchNorm makes early epochs jumpy)
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
        if time.time() - t0 > budget_s:
            break
    model.load_state_dict(best_state)
    return best


def export(model, shape, path, labels, layer_hint):
    model.eval()
    x = torch.zeros(shape)
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    m = onnx.load(path)
    m.metadata_props.add(key="labels", value=json.dumps(labels))
    m.metadata_props.add(key="gradcam_layer", value=layer_hint)
    onnx.save(m, path)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/medtrain"
    vx = torch.from_numpy(np.load(os.path.join(d, "volumes.npy")))
    vy = torch.from_numpy(np.load(os.path.join(d, "volume_labels.npy")).astype(np.int64))
    sx = torch.from_numpy(np.load(os.path.join(d, "slices.npy")))
    sy = torch.from_numpy(np.load(os.path.join(d, "slice_labels.npy")).astype(np.int64))
    labels = ["normal", "lesion"]
    out = os.path.join(ROOT, "demo", "models")
    which = sys.argv[2] if len(sys.argv) > 2 else "both"
    if which in ("both", "2d"):
        m2 = Med2d()
        a2 = train(m2, sx, sy, 6, 32, 3e-3, "med2d", 400)
        export(m2, (1, 1, 64, 64), os.path.join(out, "med2d.onnx"), labels, "features.7")
        print(json.dumps({"med2d_heldout_accuracy": a2}))
    if which in ("both", "3d"):
        m3 = Med3d()
        a3 = train(m3, vx, vy, 14, 16, 2e-3, "med3d", 300)
        export(m3, (1, 1, 32, 32, 32), os.path.join(out, "med3d.onnx"), labels, "features.5")
        print(json.dumps({"med3d_heldout_accuracy": a3}))


if __name__ == "__main__":
    main()
