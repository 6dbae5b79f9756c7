"""Train two tiny transformer classifiers on the demo scenes and export them to ONNX.

  /usr/bin/python3 scripts/demo/train_transformers.py vit  --minutes 14   # -> demo/models/vit_tiny.onnx
  /usr/bin/python3 scripts/demo/train_transformers.py swin --minutes 14   # -> demo/models/swin_tiny.onnx

Same task, scenes and preprocessing as train.py ("where"): scenes.py scenes pasting Fashion-MNIST *train*
items (fresh scenes every step, never repeated), 10 classes, ImageNet normalisation, NCHW [N,3,128,128].

vit:  torchvision.models.vision_transformer.VisionTransformer, image 128, patch 16 (8x8 token grid + class
      token), 4 layers, 4 heads, hidden 128, MLP 256, with a small convolutional stem instead of the single
      16x16 patchify convolution (torchvision's conv_stem_configs: four 3x3 stride-2 Conv+BN+ReLU,
      16/32/64/128 channels, then the 1x1 projection; "early convolutions", Xiao et al. 2021) -- a ViT
      trained from scratch on a few tens of thousands of images learns much faster with it. The token grid
      is still 8x8 (one token per 16x16 patch).
swin: torchvision.models.swin_transformer.SwinTransformer, patch 8 (16x16 grid), embed 32, depths [2,2,2],
      heads [2,4,8], window 4x4, stochastic depth 0.1; stages 16x16x32 -> 8x8x64 -> 4x4x128.

The CPU is scarce, so training is budgeted in wall time: --minutes M runs a warm-up + cosine learning-rate
schedule over M minutes of wall time (lr is a function of the elapsed fraction) and stops when the time is
up; the number of steps taken is recorded in the ONNX `training` metadata. --steps N uses a step-based
schedule instead (deterministic given the seeds). One thread for torch, one DataLoader worker generating
scenes. The checkpoint goes to /tmp/gradcam-demo/<name>_tiny.pt (not shipped).

Export note: torch 1.13's nn.MultiheadAttention takes a fused "fast path" under torch.no_grad() in eval
mode, which the ONNX exporter cannot trace; the export therefore runs with autograd enabled.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import ConvStemConfig, VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402
from train import CKPT_DIR, ROOT, VAL_SEED, TrainScenes, collate, evaluate_scenes  # noqa: E402

TRAIN_SCENE_SEED = {"vit": 111, "swin": 112}
TORCH_SEED = {"vit": 11, "swin": 12}

CONFIGS = {
    "vit": ("VisionTransformer(image_size=128, patch_size=16, num_layers=4, num_heads=4, hidden_dim=128, "
            "mlp_dim=256, num_classes=10, conv_stem_configs=[ConvStemConfig(c, 3, 2) for c in (16, 32, 64, 128)])"),
    "swin": ("SwinTransformer(patch_size=[8, 8], embed_dim=32, depths=[2, 2, 2], num_heads=[2, 4, 8], "
             "window_size=[4, 4], stochastic_depth_prob=0.1, num_classes=10)"),
}


def make_model(name):
    if name == "vit":
        stem = [ConvStemConfig(out_channels=c, kernel_size=3, stride=2) for c in (16, 32, 64, 128)]
        return VisionTransformer(image_size=scenes.SIZE, patch_size=16, num_layers=4, num_heads=4, hidden_dim=128,
                                 mlp_dim=256, num_classes=scenes.NUM_CLASSES, conv_stem_configs=stem)
    return SwinTransformer(patch_size=[8, 8], embed_dim=32, depths=[2, 2, 2], num_heads=[2, 4, 8],
                           window_size=[4, 4], stochastic_depth_prob=0.1, num_classes=scenes.NUM_CLASSES)


def export_onnx(model, name, path, stats):
    import onnx
    model.eval()
    dummy = torch.zeros(1, 3, scenes.SIZE, scenes.SIZE)
    # NOT under torch.no_grad(): see the module docstring (MultiheadAttention fast path)
    torch.onnx.export(model, dummy, path, opset_version=17, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    m = onnx.load(path)
    kind = {"vit": "tiny ViT (torchvision VisionTransformer with a conv stem, 8x8 tokens + class token)",
            "swin": "tiny Swin (torchvision SwinTransformer, channels-last stages, last stage 4x4)"}[name]
    meta = {
        "labels": json.dumps(scenes.LABELS),
        "normalization": "imagenet",
        "input_size": str(scenes.SIZE),
        "description": (
            f"gradcam demo model '{name}_tiny': {kind} (scripts/demo/train_transformers.py) classifying the "
            "Fashion-MNIST item pasted on a 128x128 photo scene (scripts/demo/scenes.py). "
            "Input 'input' float32 [N,3,128,128] RGB, x = (pixel/255 - mean) / std with ImageNet "
            "mean [0.485,0.456,0.406], std [0.229,0.224,0.225]. Output 'logits' [N,10] pre-softmax. "
            f"Config: {CONFIGS[name]}. Trained on unbiased scenes."),
        "mean": "[0.485, 0.456, 0.406]",
        "std": "[0.229, 0.224, 0.225]",
        "layout": "NCHW",
        "training": json.dumps(stats),
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "gradcam scripts/demo/train_transformers.py"
    m.doc_string = meta["description"]
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return sorted({n.op_type for n in m.graph.node})


def lr_at(frac, peak, warmup_frac):
    """Linear warm-up over warmup_frac of the schedule, then cosine to 0; frac in [0, 1]."""
    if frac < warmup_frac:
        return peak * (0.05 + 0.95 * frac / warmup_frac)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - warmup_frac) / (1 - warmup_frac))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=["vit", "swin"])
    ap.add_argument("--minutes", type=float, default=14.0, help="wall-time budget of the schedule")
    ap.add_argument("--steps", type=int, default=0, help="step-based schedule instead of --minutes")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=float, default=0.08, help="warm-up fraction of the schedule")
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--out", default=None)
    ap.add_argument("--resume", action="store_true", help="continue from /tmp/gradcam-demo/<name>_tiny.pt with a "
                    "new warm-up + cosine schedule (a second phase) on scenes not seen before")
    ap.add_argument("--drop-path", type=float, default=None, help="swin: stochastic-depth rate for this phase "
                    "(default: the config's 0.1; identity at inference, so the exported graph does not change)")
    ap.add_argument("--export-only", action="store_true", help="re-export /tmp/gradcam-demo/<name>_tiny.pt")
    args = ap.parse_args()
    out = args.out or os.path.join(ROOT, "demo", "models", f"{args.name}_tiny.onnx")
    ckpt = os.path.join(CKPT_DIR, f"{args.name}_tiny.pt")
    os.makedirs(CKPT_DIR, exist_ok=True)
    torch.set_num_threads(1)
    if args.export_only:
        ck = torch.load(ckpt)
        model = make_model(args.name)
        model.load_state_dict(ck["state_dict"])
        ops = export_onnx(model, args.name, out, ck["stats"])
        print(f"exported {out} ({os.path.getsize(out)} bytes); op types: {ops}")
        return
    torch.manual_seed(TORCH_SEED[args.name])
    model = make_model(args.name)
    n_params = sum(p.numel() for p in model.parameters())
    phases, first_scene = [], 0
    if args.resume:
        ck = torch.load(ckpt)
        model.load_state_dict(ck["state_dict"])
        phases = ck["stats"].get("phases") or [{k: ck["stats"][k] for k in ("steps", "batch", "schedule", "lr",
                                                                             "train_seconds", "val_accuracy_1000_t10k_scenes")
                                                if k in ck["stats"]}]
        for ph in phases:  # checkpoints written before phases were recorded used the defaults
            ph.setdefault("lr", 1e-3)
            ph.setdefault("warmup", 0.08)
        first_scene = sum(ph["steps"] * ph["batch"] for ph in phases)
        torch.manual_seed(TORCH_SEED[args.name] + 1000 * len(phases))
    print(f"{args.name}: {n_params} parameters", flush=True)
    if args.drop_path is not None:
        from torchvision.ops import StochasticDepth
        sd = [m for m in model.modules() if isinstance(m, StochasticDepth)]
        for i, m in enumerate(sd):  # torchvision's linear rule: rate * block index / (blocks - 1)
            m.p = args.drop_path * i / max(1, len(sd) - 1)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "pos_embedding" not in n
             and "relative_position_bias_table" not in n and "class_token" not in n]
    no_decay = [p for n, p in model.named_parameters() if not any(p is q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr)
    max_steps = args.steps if args.steps else 100000
    # scene indices continue across phases: a resumed phase never repeats a scene
    ds = TrainScenes(first_scene + max_steps * args.batch, TRAIN_SCENE_SEED[args.name], shortcut=False)
    sampler = range(first_scene, first_scene + max_steps * args.batch)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, sampler=sampler,
                                     num_workers=1, collate_fn=collate, prefetch_factor=4)
    budget = args.minutes * 60.0
    t0 = time.time()
    model.train()
    run_loss, run_acc, steps = None, None, 0
    for step, (x, y) in enumerate(dl):
        frac = step / args.steps if args.steps else (time.time() - t0) / budget
        if frac >= 1.0:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(frac, args.lr, args.warmup)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        acc = (logits.argmax(1) == y).float().mean().item()
        run_loss = loss.item() if run_loss is None else 0.95 * run_loss + 0.05 * loss.item()
        run_acc = acc if run_acc is None else 0.95 * run_acc + 0.05 * acc
        steps = step + 1
        if step % 20 == 0:
            print(f"step {step:5d} loss {run_loss:.3f} acc {run_acc:.3f} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{time.time() - t0:.0f}s", flush=True)
    seconds = round(time.time() - t0)
    print(f"trained {steps} steps in {seconds}s", flush=True)
    del dl

    preds, labels = evaluate_scenes(model, "t10k", VAL_SEED, 1000)
    acc = float((preds == labels).mean())
    print(f"val accuracy (1000 t10k scenes, seed {VAL_SEED}): {acc:.4f}", flush=True)
    phases = phases + [{"steps": steps, "batch": args.batch, "lr": args.lr, "warmup": args.warmup,
                        **({"stochastic_depth": args.drop_path} if args.drop_path is not None else {}),
                        "train_seconds": seconds,
                        "schedule": (f"{args.steps} steps" if args.steps else f"{args.minutes} minutes wall time"),
                        "val_accuracy_1000_t10k_scenes": round(acc, 4)}]
    stats = {"steps": sum(ph["steps"] for ph in phases), "batch": args.batch,
             "scenes_seen": sum(ph["steps"] * ph["batch"] for ph in phases), "phases": phases,
             "train_seconds": sum(ph["train_seconds"] for ph in phases), "val_accuracy_1000_t10k_scenes": round(acc, 4),
             "train_scene_seed": TRAIN_SCENE_SEED[args.name], "torch_seed": TORCH_SEED[args.name],
             "params": n_params, "config": CONFIGS[args.name],
             "optimizer": (f"AdamW lr {args.lr} wd {args.wd} (not on norms/biases/embeddings), linear warm-up + "
                           "cosine per phase, grad-norm clip 1, label smoothing 0.05"),
             "torch": torch.__version__}
    ops = export_onnx(model, args.name, out, stats)
    with open(out, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    torch.save({"state_dict": model.state_dict(), "stats": stats, "onnx_sha256": sha}, ckpt)
    print(f"exported {out} ({os.path.getsize(out)} bytes); op types: {ops}")
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
