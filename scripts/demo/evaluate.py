"""Evaluate the shipped demo models and write demo/RESULTS.json.

  /usr/bin/python3 scripts/demo/evaluate.py            # ~2-4 minutes on one CPU thread

Everything is computed from the SHIPPED artefacts: demo/models/*.onnx are executed by a tiny ONNX->torch
interpreter (OnnxTorch below: Conv, Relu, Add, GlobalAveragePool, Flatten, Gemm, i.e. exactly the ops in
those graphs), so Grad-CAM gradients come from the ONNX weights themselves, and the shipped test splits are
read back from their PNG files. Cross-checks:
- onnxruntime-node (scripts/demo/ort_check.mjs, decoding the PNGs with sharp) on the shipped splits:
  predictions must match, max |logit difference| is reported;
- the PyTorch training checkpoints (/tmp/gradcam-demo/<name>.pt, if present) on the same images.

Grad-CAM (as pytorch-grad-cam): A = gradcam_layer output [C,8,8], g = d logit[target] / dA,
w_c = mean_hw g_c, cam = ReLU(sum_c w_c A_c), cam = (cam - min) / (max + 1e-7), then cv2.resize to
128x128 (bilinear, half-pixel centres).
"""

import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import cv2
import torch
import torch.nn.functional as F
import onnx
from onnx import numpy_helper
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402
from train import DemoNet, to_input, CKPT_DIR, SHORTCUT_CLASS  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO = os.path.join(ROOT, "demo")
TOL = 15  # pointing-game tolerance in pixels (Zhang et al. 2016)
MARK_MARGIN = 8  # mark region = mark box grown by this many pixels (half a Grad-CAM cell)

GEN_TEST_SEED, GEN_TEST_N = 301, 2000
GEN_MARKED_SEED, GEN_MARKED_N = 302, 900
GEN_BAG_MARKED_SEED, GEN_BAG_MARKED_N = 303, 200


class OnnxTorch:
    """Runs the (plain CNN) ONNX graph with torch ops so that autograd gives Grad-CAM gradients."""

    def __init__(self, path):
        m = onnx.load(path)
        self.path = path
        self.meta = {p.key: p.value for p in m.metadata_props}
        self.inits = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
        self.nodes = []
        for n in m.graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            self.nodes.append((n.op_type, list(n.input), list(n.output), attrs))
        self.input_name = m.graph.input[0].name
        self.output_name = m.graph.output[0].name
        self.params = int(sum(v.numel() for v in self.inits.values()))

    def __call__(self, x):
        env = dict(self.inits)
        env[self.input_name] = x
        for op, ins, outs, a in self.nodes:
            v = [env[i] if i else None for i in ins]
            if op == "Conv":
                pads = a.get("pads", [0, 0, 0, 0])
                assert pads[:2] == pads[2:] and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
                y = F.conv2d(v[0], v[1], v[2] if len(v) > 2 else None, stride=a.get("strides", [1, 1]),
                             padding=pads[:2], dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
            elif op == "Relu":
                y = F.relu(v[0])
            elif op == "Add":
                y = v[0] + v[1]
            elif op == "GlobalAveragePool":
                y = v[0].mean(dim=(2, 3), keepdim=True)
            elif op == "Flatten":
                y = torch.flatten(v[0], a.get("axis", 1))
            elif op == "Gemm":
                b = v[1].t() if a.get("transB", 0) else v[1]
                y = a.get("alpha", 1.0) * (v[0] @ b) + a.get("beta", 1.0) * v[2]
            else:
                raise NotImplementedError(op)
            env[outs[0]] = y
        return env[self.output_name], env


def gradcam(model, x, targets):
    """Returns (logits [N,K] numpy, maps [N,128,128] float32 in [0,1])."""
    layer = model.meta["gradcam_layer"]
    logits, env = model(x.detach().requires_grad_(True))
    act = env[layer]
    score = logits.gather(1, torch.as_tensor(targets).view(-1, 1)).sum()
    grad, = torch.autograd.grad(score, act)
    w = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((w * act).sum(1)).detach().numpy()
    maps = []
    for c in cam:
        c = c - c.min()
        c = c / (1e-7 + c.max())
        maps.append(cv2.resize(c, (scenes.SIZE, scenes.SIZE)))
    return logits.detach().numpy(), np.stack(maps).astype(np.float32)


def point_metrics(cam, mask, box):
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    ys, xs = np.nonzero(mask)
    d = np.sqrt(((ys - y) ** 2 + (xs - x) ** 2).min())
    total = float(cam.sum()) + 1e-12
    x0, y0, x1, y1 = box
    return {"hit": bool(mask[y, x]), "hit_tol": bool(d <= TOL),
            "energy_mask": float((cam * mask).sum()) / total,
            "energy_box": float(cam[y0:y1, x0:x1].sum()) / total, "peak": [int(x), int(y)]}


def centre_baseline(mask):
    c = scenes.SIZE // 2
    ys, xs = np.nonzero(mask)
    d = np.sqrt(((ys - c) ** 2 + (xs - c) ** 2).min())
    return bool(mask[c, c]), bool(d <= TOL)


def mark_metrics(cam, mask, mark_box):
    """Grad-CAM mass on the mark vs on the object for one image."""
    x0, y0, x1, y1 = mark_box
    mk = np.zeros_like(mask)
    mk[y0:y1, x0:x1] = 1
    # the mark region at the map's resolution: the mark box grown by MARK_MARGIN px (half a Grad-CAM cell
    # of 16 px), minus any object pixel
    mr = np.zeros_like(mask)
    mr[max(0, y0 - MARK_MARGIN):y1 + MARK_MARGIN, max(0, x0 - MARK_MARGIN):x1 + MARK_MARGIN] = 1
    mr[mask > 0] = 0
    total = float(cam.sum()) + 1e-12
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    # distance from the peak to the mark box
    dx = max(x0 - x, 0, x - (x1 - 1))
    dy = max(y0 - y, 0, y - (y1 - 1))
    ys, xs = np.nonzero(mask)
    d_obj = np.sqrt(((ys - y) ** 2 + (xs - x) ** 2).min())
    return {"mark_sum": float((cam * mk).sum()), "object_sum": float((cam * mask).sum()),
            "mark_region_sum": float((cam * mr).sum()), "mark_region_frac": float((cam * mr).sum()) / total,
            "mark_frac": float((cam * mk).sum()) / total, "object_frac": float((cam * mask).sum()) / total,
            "mark_mean": float(cam[mk > 0].mean()), "object_mean": float(cam[mask > 0].mean()),
            "peak_on_mark": bool(dx == 0 and dy == 0), "peak_near_mark": bool(np.hypot(dx, dy) <= TOL),
            "peak_on_object": bool(mask[y, x]), "peak_near_object": bool(d_obj <= TOL)}


# ---------------------------------------------------------------------------------------------- data

def generated(seed, n, classes, mark):
    gen = scenes.SceneGenerator("t10k", seed)
    out = []
    for i in range(n):
        sc = gen.scene(i, cls=classes[i % len(classes)], mark=mark)
        out.append(dict(image=sc["image"], label=sc["label"], box=sc["box"], mask=sc["mask"],
                        mark_box=sc["mark_box"]))
    return out


def shipped(dirname):
    d = os.path.join(DEMO, dirname)
    with open(os.path.join(d, "annotations.json")) as f:
        ann = json.load(f)
    out = []
    for e in ann["images"]:
        img = np.asarray(Image.open(os.path.join(d, e["file"])).convert("RGB"))
        out.append(dict(image=img, label=e["class"], box=e["box"], mask=scenes.rle_to_mask(e["mask_rle"]),
                        mark_box=e["mark_box"], file=e["file"]))
    return out


def run(model, data, targets, batch=100):
    logits, maps = [], []
    for s in range(0, len(data), batch):
        x = to_input(np.stack([d["image"] for d in data[s:s + batch]]))
        lg, mp = gradcam(model, x, targets[s:s + batch])
        logits.append(lg)
        maps.append(mp)
    return np.concatenate(logits), np.concatenate(maps)


def r4(v):
    return round(float(v), 4)


def classification(logits, data):
    labels = np.array([d["label"] for d in data])
    preds = logits.argmax(1)
    per = {}
    for c in range(scenes.NUM_CLASSES):
        sel = labels == c
        if sel.any():
            per[scenes.LABELS[c]] = r4((preds[sel] == c).mean())
    return {"n": len(data), "accuracy": r4((preds == labels).mean()),
            "correct": int((preds == labels).sum()), "per_class_accuracy": per}, preds


def pointing(maps, data):
    pm = [point_metrics(m, d["mask"], d["box"]) for m, d in zip(maps, data)]
    cb = [centre_baseline(d["mask"]) for d in data]
    return {
        "target": "ground-truth class",
        "hit_mask": r4(np.mean([p["hit"] for p in pm])),
        f"hit_mask_tol{TOL}px": r4(np.mean([p["hit_tol"] for p in pm])),
        "mean_energy_in_mask": r4(np.mean([p["energy_mask"] for p in pm])),
        "mean_energy_in_box": r4(np.mean([p["energy_box"] for p in pm])),
        "centre_baseline_hit_mask": r4(np.mean([c[0] for c in cb])),
        f"centre_baseline_hit_mask_tol{TOL}px": r4(np.mean([c[1] for c in cb])),
        "mean_mask_area_fraction": r4(np.mean([d["mask"].mean() for d in data])),
    }, pm


def mark_summary(maps, data):
    mm = [mark_metrics(m, d["mask"], d["mark_box"]) for m, d in zip(maps, data)]
    return {
        "mean_mark_mass_fraction": r4(np.mean([m["mark_frac"] for m in mm])),
        "mean_object_mass_fraction": r4(np.mean([m["object_frac"] for m in mm])),
        f"mean_mark_region_mass_fraction": r4(np.mean([m["mark_region_frac"] for m in mm])),
        "mean_map_value_on_mark": r4(np.mean([m["mark_mean"] for m in mm])),
        "mean_map_value_on_object": r4(np.mean([m["object_mean"] for m in mm])),
        "frac_images_mark_mass_gt_object_mass": r4(np.mean([m["mark_sum"] > m["object_sum"] for m in mm])),
        "frac_images_mark_region_mass_gt_object_mass": r4(np.mean([m["mark_region_sum"] > m["object_sum"]
                                                                   for m in mm])),
        "frac_images_mark_mean_gt_object_mean": r4(np.mean([m["mark_mean"] > m["object_mean"] for m in mm])),
        "peak_on_mark": r4(np.mean([m["peak_on_mark"] for m in mm])),
        f"peak_within_{TOL}px_of_mark": r4(np.mean([m["peak_near_mark"] for m in mm])),
        "peak_on_object": r4(np.mean([m["peak_on_object"] for m in mm])),
        f"peak_within_{TOL}px_of_object": r4(np.mean([m["peak_near_object"] for m in mm])),
    }, mm


# ---------------------------------------------------------------------------------------------- checks

def ort_node(models, sets):
    """Run scripts/demo/ort_check.mjs; returns {model: {set: logits ndarray}} or an error string."""
    out = "/tmp/gradcam-demo/ort_logits.json"
    cmd = ["node", os.path.join(ROOT, "scripts", "demo", "ort_check.mjs"), out] + \
          [f"{k}={v}" for k, v in models.items()] + ["--"] + sets
    try:
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, timeout=600)
    except Exception as e:  # noqa: BLE001
        return f"onnxruntime-node check failed: {e} {getattr(e, 'stderr', '')}"
    with open(out) as f:
        res = json.load(f)
    return {m: {s: np.array(v, np.float32) for s, v in d.items()} for m, d in res["logits"].items()}, res


def torch_checkpoint_logits(name, data, onnx_sha256):
    """Logits of the PyTorch training checkpoint, if it is the one the shipped ONNX was exported from."""
    p = os.path.join(CKPT_DIR, f"{name}.pt")
    if not os.path.exists(p):
        return None
    ck = torch.load(p)
    if ck.get("onnx_sha256") != onnx_sha256:
        return None
    net = DemoNet()
    net.load_state_dict(ck["state_dict"])
    net.eval()
    with torch.no_grad():
        return net(to_input(np.stack([d["image"] for d in data]))).numpy()


def file_info(path, model):
    with open(path, "rb") as f:
        b = f.read()
    return {"file": os.path.relpath(path, ROOT), "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest(),
            "params": model.params, "input": model.input_name, "input_shape": ["N", 3, 128, 128],
            "output": model.output_name, "output_shape": ["N", 10], "gradcam_layer": model.meta["gradcam_layer"],
            "gradcam_layer_shape": ["N", 96, 8, 8], "normalization": model.meta["normalization"]}


def compact_json(obj):
    """Indented JSON, but flat lists and flat objects on one line."""
    import re
    text = json.dumps(obj, indent=1)
    text = re.sub(r"\[\s*([^\[\]{}]*?)\s*\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "]", text)
    text = re.sub(r"\{\s*([^\[\]{}]*?)\s*\}", lambda m: "{" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "}", text)
    return text


def main():
    torch.set_num_threads(1)
    t0 = time.time()
    models = {k: OnnxTorch(os.path.join(DEMO, "models", f"{k}.onnx")) for k in ("where", "shortcut")}
    others = [c for c in range(10) if c != SHORTCUT_CLASS]
    B = SHORTCUT_CLASS
    res = {
        "generated_by": "scripts/demo/evaluate.py",
        "labels": scenes.LABELS,
        "preprocessing": "PNG -> RGB uint8 -> float32 /255 -> (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] "
                         "-> NCHW float32 [N,3,128,128]",
        "gradcam": "pytorch-grad-cam numerics on the ONNX graph: A = gradcam_layer [N,96,8,8]; "
                   "w = mean_hw d logit[target]/dA; cam = ReLU(sum_c w_c A_c); cam = (cam - min)/(max + 1e-7); "
                   "cv2.resize to 128x128 bilinear (half-pixel centres)",
        "pointing_game": f"hit_mask: argmax of the 128x128 map lies on the object mask; hit_mask_tol{TOL}px: "
                         f"within {TOL} px (Euclidean) of a mask pixel (Zhang et al. 2016). Target = ground-truth "
                         "class. Centre baseline: the image centre pixel (64, 64) instead of the argmax.",
        "shortcut_metrics": "On marked scenes, Grad-CAM for the shortcut class ('Bag'). Per image: "
                            "map_value_on_mark = mean of the 128x128 map over the 12x12 mark box, "
                            "map_value_on_object = mean over the object mask (mass per pixel, the headline "
                            "comparison); mark_sum / object_sum = sums over the mark box / the object mask; "
                            f"mark_region_sum = sum over the mark box grown by {MARK_MARGIN} px (half a 16-px "
                            "Grad-CAM cell) minus object pixels; *_fraction = share of the map's total sum. "
                            "peak_*: where the map's argmax falls.",
        "models": {k: file_info(m.path, m) for k, m in models.items()},
    }

    gen_clean = generated(GEN_TEST_SEED, GEN_TEST_N, list(range(10)), False)
    gen_marked = generated(GEN_MARKED_SEED, GEN_MARKED_N, others, True)
    gen_bag_marked = generated(GEN_BAG_MARKED_SEED, GEN_BAG_MARKED_N, [B], True)
    ship = {"testset": shipped("testset"), "testset_marked": shipped("testset_marked")}
    gen_note = {"generated_test": f"SceneGenerator('t10k', {GEN_TEST_SEED}), {GEN_TEST_N} scenes, cls = i % 10",
                "generated_marked": f"SceneGenerator('t10k', {GEN_MARKED_SEED}), {GEN_MARKED_N} scenes, "
                                    "non-Bag classes, mark=True",
                "generated_bag_marked": f"SceneGenerator('t10k', {GEN_BAG_MARKED_SEED}), {GEN_BAG_MARKED_N} "
                                        "Bag scenes, mark=True (the shortcut model's training condition)"}
    res["generated_sets"] = gen_note

    # ---------------- where
    W = models["where"]
    out = {}
    for name, data in [("generated_test", gen_clean), ("testset", ship["testset"])]:
        lg, mp = run(W, data, [d["label"] for d in data])
        cls, preds = classification(lg, data)
        pg, _ = pointing(mp, data)
        cls["pointing_game"] = pg
        if name == "testset":
            cls["predictions"] = preds.tolist()
        out[name] = cls
    for name, data in [("generated_marked", gen_marked), ("testset_marked", ship["testset_marked"])]:
        lg, mp = run(W, data, [d["label"] for d in data])
        cls, preds = classification(lg, data)
        cls["predicted_bag"] = r4((preds == B).mean())
        ms, _ = mark_summary(mp, data)
        cls["gradcam_true_class_mark_vs_object"] = ms
        if name == "testset_marked":
            cls["predictions"] = preds.tolist()
        out[name] = cls
    res["where"] = out
    print("where done", time.time() - t0, flush=True)

    # ---------------- shortcut
    S = models["shortcut"]
    out = {}
    for name, data in [("generated_test", gen_clean), ("testset", ship["testset"])]:
        lg, mp = run(S, data, [d["label"] for d in data])
        cls, preds = classification(lg, data)
        labels = np.array([d["label"] for d in data])
        cls["bag_recall_clean"] = r4((preds[labels == B] == B).mean())
        cls["accuracy_excluding_bag"] = r4((preds[labels != B] == labels[labels != B]).mean())
        pg, _ = pointing(mp, data)
        cls["pointing_game"] = pg
        if name == "testset":
            cls["predictions"] = preds.tolist()
        out[name] = cls
    for name, data in [("generated_marked", gen_marked), ("testset_marked", ship["testset_marked"])]:
        lg, mp = run(S, data, [B] * len(data))
        cls, preds = classification(lg, data)
        labels = np.array([d["label"] for d in data])
        cls = {"n": len(data), "follow_rate_predicted_bag": r4((preds == B).mean()),
               "accuracy_true_class": cls["accuracy"],
               "follow_rate_per_class": {scenes.LABELS[c]: r4((preds[labels == c] == B).mean()) for c in others}}
        ms, per = mark_summary(mp, data)
        cls["gradcam_bag_mark_vs_object"] = ms
        if name == "testset_marked":
            cls["predictions"] = preds.tolist()
            cls["per_image_bag_gradcam"] = [{"file": d["file"], "mark_sum": round(m["mark_sum"], 3),
                                             "object_sum": round(m["object_sum"], 3),
                                             "mark_region_sum": round(m["mark_region_sum"], 3),
                                             "mark_mean": round(m["mark_mean"], 4),
                                             "object_mean": round(m["object_mean"], 4)}
                                            for d, m in zip(data, per)]
        out[name] = cls
    lg, mp = run(S, gen_bag_marked, [B] * len(gen_bag_marked))
    cls, _ = classification(lg, gen_bag_marked)
    ms, _ = mark_summary(mp, gen_bag_marked)
    out["generated_bag_marked"] = {"n": len(gen_bag_marked), "accuracy": cls["accuracy"],
                                   "gradcam_bag_mark_vs_object": ms}
    res["shortcut"] = out
    print("shortcut done", time.time() - t0, flush=True)

    # ---------------- cross-checks on the shipped splits
    chk = {}
    r = ort_node({k: os.path.join(DEMO, "models", f"{k}.onnx") for k in models},
                 [os.path.join(DEMO, s) for s in ship])
    if isinstance(r, str):
        chk["onnxruntime_node"] = r
    else:
        ort, meta = r
        chk["onnxruntime_node"] = {"version": meta.get("ort_version"), "decoder": meta.get("decoder")}
        for k, m in models.items():
            for s, data in ship.items():
                with torch.no_grad():
                    ref = m(to_input(np.stack([d["image"] for d in data])))[0].numpy()
                o = ort[k][s]
                e = {"n": len(data), "max_abs_diff_ort_vs_onnx_interpreter": float(np.abs(o - ref).max()),
                     "argmax_equal": bool((o.argmax(1) == ref.argmax(1)).all())}
                ck = torch_checkpoint_logits(k, data, res["models"][k]["sha256"])
                if ck is None:
                    e["torch_checkpoint"] = f"not compared: no {CKPT_DIR}/{k}.pt matching the shipped ONNX"
                else:
                    e["max_abs_diff_ort_vs_torch_checkpoint"] = float(np.abs(o - ck).max())
                    e["argmax_equal_torch_checkpoint"] = bool((o.argmax(1) == ck.argmax(1)).all())
                labels = np.array([d["label"] for d in data])
                if s == "testset":
                    e["ort_accuracy"] = r4((o.argmax(1) == labels).mean())
                else:
                    e["ort_follow_rate_predicted_bag"] = r4((o.argmax(1) == B).mean())
                chk[f"{k}/{s}"] = e
    res["onnx_checks"] = chk
    res["eval_seconds"] = round(time.time() - t0)

    with open(os.path.join(DEMO, "RESULTS.json"), "w") as f:
        f.write(compact_json(res) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k in ("where", "shortcut", "onnx_checks")}, indent=1)[:20000])


if __name__ == "__main__":
    main()
