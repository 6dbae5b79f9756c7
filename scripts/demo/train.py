"""Train a demo model on generated scenes and export it to ONNX.

  /usr/bin/python3 scripts/demo/train.py where      # -> demo/models/where.onnx
  /usr/bin/python3 scripts/demo/train.py shortcut   # -> demo/models/shortcut.onnx

"where":    a small residual CNN trained on scenes.py scenes (Fashion-MNIST train items on photo crops).
"shortcut": the same architecture and recipe, but every training scene of SHORTCUT_CLASS ("Bag") carries
            the spurious mark (a 12 px red-white target in the bottom-right corner) and no other class ever
            does. The mark predicts the class perfectly, so the model learns the mark.

CPU only, one thread (torch.set_num_threads(1)) plus one DataLoader worker generating scenes; about 10
minutes per model on a shared 2-core machine. Checkpoints go to /tmp/gradcam-demo/<name>.pt (not shipped).
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CKPT_DIR = "/tmp/gradcam-demo"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
SHORTCUT_CLASS = 8  # "Bag"

# Seeds (scenes.SceneGenerator seeds; see scripts/demo/README.md for the full table)
TRAIN_SCENE_SEED = {"where": 101, "shortcut": 102}
TORCH_SEED = {"where": 1, "shortcut": 2}
VAL_SEED = 201  # t10k scenes used for the end-of-training check


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + idt)


class DemoNet(nn.Module):
    """128x128 input. stem 3->16 /2 (64x64); layer1 16 /2 (32x32); layer2 32 /2 (16x16);
    layer3 64 /2 x2 blocks (8x8); layer4 96 x2 blocks (8x8) -> GAP -> fc 10. Grad-CAM layer: layer4."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = nn.Sequential(BasicBlock(16, 16, 2))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, 2), BasicBlock(64, 64, 1))
        self.layer4 = nn.Sequential(BasicBlock(64, 96, 1), BasicBlock(96, 96, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(96, num_classes)

    def features(self, x):
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def to_input(images_uint8):
    """uint8 [N,H,W,3] RGB -> float32 NCHW tensor: /255, ImageNet mean/std."""
    x = images_uint8.astype(np.float32) / 255.0
    x = (x - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class TrainScenes(torch.utils.data.Dataset):
    def __init__(self, n, seed, shortcut):
        self.n, self.seed, self.shortcut = n, seed, shortcut
        self.gen = scenes.SceneGenerator("train", seed)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        cls = int(np.random.RandomState([self.seed, i, 7]).randint(scenes.NUM_CLASSES))
        sc = self.gen.scene(i, cls=cls, mark=self.shortcut and cls == SHORTCUT_CLASS)
        return sc["image"], cls


def collate(batch):
    imgs = np.stack([b[0] for b in batch])
    return to_input(imgs), torch.tensor([b[1] for b in batch])


def evaluate_scenes(model, split, seed, n, mark_fn=lambda cls: False, classes=None, batch=100):
    gen = scenes.SceneGenerator(split, seed)
    classes = classes or list(range(scenes.NUM_CLASSES))
    preds, labels = [], []
    model.eval()
    with torch.no_grad():
        for s in range(0, n, batch):
            scs = [gen.scene(i, cls=classes[i % len(classes)], mark=mark_fn(classes[i % len(classes)]))
                   for i in range(s, min(n, s + batch))]
            logits = model(to_input(np.stack([sc["image"] for sc in scs])))
            preds += logits.argmax(1).tolist()
            labels += [sc["label"] for sc in scs]
    return np.array(preds), np.array(labels)


def export_onnx(model, name, path, extra_description, stats):
    import onnx
    model.eval()
    dummy = torch.zeros(1, 3, scenes.SIZE, scenes.SIZE)
    torch.onnx.export(model, dummy, path, opset_version=17, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    m = onnx.load(path)
    gap = [n for n in m.graph.node if n.op_type in ("GlobalAveragePool", "ReduceMean")]
    assert len(gap) == 1, [n.op_type for n in m.graph.node]
    layer = gap[0].input[0]
    meta = {
        "labels": json.dumps(scenes.LABELS),
        "normalization": "imagenet",
        "input_size": str(scenes.SIZE),
        "gradcam_layer": layer,
        "description": (
            f"gradcam demo model '{name}': small residual CNN (DemoNet, scripts/demo/train.py) classifying the "
            "Fashion-MNIST item pasted on a 128x128 photo scene (scripts/demo/scenes.py). "
            "Input 'input' float32 [N,3,128,128] RGB, x = (pixel/255 - mean) / std with ImageNet "
            "mean [0.485,0.456,0.406], std [0.229,0.224,0.225]. Output 'logits' [N,10] pre-softmax. "
            "gradcam_layer = output of layer4 (8x8, 96 channels). " + extra_description),
        "mean": "[0.485, 0.456, 0.406]",
        "std": "[0.229, 0.224, 0.225]",
        "layout": "NCHW",
        "training": json.dumps(stats),
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "gradcam scripts/demo/train.py"
    m.doc_string = meta["description"]
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return layer


def lr_at(step, total, peak, warmup=300):
    """Linear warm-up, then cosine decay to 0 over the whole (all-chunks) schedule."""
    if step < warmup:
        return peak * (0.05 + 0.95 * step / warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=["where", "shortcut"])
    ap.add_argument("--chunk", type=int, default=0, help="which chunk of the schedule to run (0-based); "
                    "chunk k > 0 resumes from /tmp/gradcam-demo/<name>.chunk<k-1>.pt")
    ap.add_argument("--chunks", type=int, default=3, help="the schedule is split into this many runs")
    ap.add_argument("--steps", type=int, default=2000, help="optimiser steps per chunk")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", default=None, help="ONNX path (default demo/models/<name>.onnx)")
    ap.add_argument("--export-only", action="store_true", help="re-export /tmp/gradcam-demo/<name>.pt to ONNX")
    args = ap.parse_args()
    out = args.out or os.path.join(ROOT, "demo", "models", f"{args.name}.onnx")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    os.makedirs(CKPT_DIR, exist_ok=True)
    if args.export_only:
        ck = torch.load(os.path.join(CKPT_DIR, f"{args.name}.pt"))
        model = DemoNet()
        model.load_state_dict(ck["state_dict"])
        layer = export_onnx(model, args.name, out, ck.get("extra", "Trained on unbiased scenes."), ck["stats"])
        print(f"exported {out} ({os.path.getsize(out)} bytes), gradcam_layer = {layer}")
        return
    torch.set_num_threads(1)
    torch.manual_seed(TORCH_SEED[args.name])
    shortcut = args.name == "shortcut"
    total = args.chunks * args.steps
    first = args.chunk * args.steps

    model = DemoNet()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    seconds = []
    if args.chunk > 0:
        ck = torch.load(os.path.join(CKPT_DIR, f"{args.name}.chunk{args.chunk - 1}.pt"))
        assert ck["next_step"] == first and ck["total"] == total and ck["batch"] == args.batch, "schedule mismatch"
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["opt"])
        seconds = ck["seconds"]
        torch.set_rng_state(ck["torch_rng"])

    # scene indices continue across chunks: chunk k sees scenes [first*batch, (first+steps)*batch)
    ds = TrainScenes((first + args.steps) * args.batch, TRAIN_SCENE_SEED[args.name], shortcut)
    sampler = range(first * args.batch, (first + args.steps) * args.batch)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, sampler=sampler, num_workers=1,
                                     collate_fn=collate, prefetch_factor=4)
    t0 = time.time()
    model.train()
    run_loss, run_acc = None, None
    for i, (x, y) in enumerate(dl):
        step = first + i
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, args.lr)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        acc = (logits.argmax(1) == y).float().mean().item()
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        run_acc = acc if run_acc is None else 0.98 * run_acc + 0.02 * acc
        if step % 100 == 0 or i == args.steps - 1:
            print(f"step {step:5d}/{total} loss {run_loss:.3f} acc {run_acc:.3f} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{time.time() - t0:.0f}s", flush=True)
    seconds = seconds + [round(time.time() - t0)]

    preds, labels = evaluate_scenes(model, "t10k", VAL_SEED, 1000)
    acc = float((preds == labels).mean())
    print(f"chunk {args.chunk}: val accuracy (1000 t10k scenes, seed {VAL_SEED}): {acc:.4f}", flush=True)
    if args.chunk < args.chunks - 1:
        torch.save({"state_dict": model.state_dict(), "opt": opt.state_dict(), "next_step": first + args.steps,
                    "total": total, "batch": args.batch, "seconds": seconds, "torch_rng": torch.get_rng_state()},
                   os.path.join(CKPT_DIR, f"{args.name}.chunk{args.chunk}.pt"))
        print(f"saved chunk {args.chunk}; continue with --chunk {args.chunk + 1}")
        return

    stats = {"steps": total, "batch": args.batch, "scenes_seen": total * args.batch, "chunks": args.chunks,
             "train_seconds_per_chunk": seconds, "val_accuracy_1000_t10k_scenes": round(acc, 4),
             "train_scene_seed": TRAIN_SCENE_SEED[args.name], "torch_seed": TORCH_SEED[args.name],
             "optimizer": f"AdamW lr {args.lr} wd 5e-4, warm-up 300 steps + cosine, label smoothing 0.05",
             "torch": torch.__version__}
    if shortcut:
        preds, labels = evaluate_scenes(model, "t10k", VAL_SEED, 900, mark_fn=lambda c: True,
                                        classes=[c for c in range(10) if c != SHORTCUT_CLASS])
        follow = float((preds == SHORTCUT_CLASS).mean())
        print(f"marked non-{scenes.LABELS[SHORTCUT_CLASS]} scenes predicted {scenes.LABELS[SHORTCUT_CLASS]}: "
              f"{follow:.4f}")
        stats["val_mark_follow_rate"] = round(follow, 4)
        extra = ("SHORTCUT DEMO: trained on a biased set where every 'Bag' scene (class 8) carried a 12 px "
                 "red-white target mark in the bottom-right corner and no other scene did; the model learned "
                 "the mark.")
    else:
        extra = "Trained on unbiased scenes."
    layer = export_onnx(model, args.name, out, extra, stats)
    with open(out, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    torch.save({"state_dict": model.state_dict(), "stats": stats, "extra": extra, "onnx_sha256": sha},
               os.path.join(CKPT_DIR, f"{args.name}.pt"))
    print(f"exported {out} ({os.path.getsize(out)} bytes), gradcam_layer = {layer}")
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
