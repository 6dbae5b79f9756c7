"""Evaluate the tiny ViT / Swin demo models with gradcam's own CLI and add the numbers to demo/RESULTS.json.

  /usr/bin/python3 scripts/demo/evaluate_transformers.py     # ~2-3 minutes

For each model (and, for comparison, the CNN `where` through the same CLI), on the shipped held-out split
demo/testset (120 scenes, 12 per class): for each class c, `node bin/gradcam.js explain <the 12 scenes of
class c> --model M --class c --raw --out DIR` (automatic layer, Grad-CAM for the true class). Accuracy is
the CLI's `predicted` class (onnxruntime-node); the pointing game and energy in the mask are computed on the
CLI's map (<stem>.gradcam.npy, [128,128], scaled to [0,1]) with evaluate.py's definitions
(evaluate.pointing: hit_mask = argmax on the object mask, 15 px tolerance variant, energy = map sum on
the mask / map sum). Writes the key "transformers" into demo/RESULTS.json; nothing else there changes.
"""

import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402
from evaluate import ROOT, classification, compact_json, pointing, shipped  # noqa: E402

MODELS = {"vit_tiny": "demo/models/vit_tiny.onnx", "swin_tiny": "demo/models/swin_tiny.onnx",
          "where": "demo/models/where.onnx"}
OUT = "/tmp/gradcam-demo/transformers_eval"


def explain(name, path, data):
    out = os.path.join(OUT, name)
    os.makedirs(out, exist_ok=True)
    for c in range(scenes.NUM_CLASSES):
        files = [os.path.join(ROOT, "demo", "testset", d["file"]) for d in data if d["label"] == c]
        cmd = ["node", os.path.join(ROOT, "bin", "gradcam.js"), "explain", *files, "--model", os.path.join(ROOT, path),
               "--class", str(c), "--raw", "--quiet", "--batch-size", "12", "--out", out]
        subprocess.run(cmd, check=True, cwd=ROOT)
    logits, maps, infos = [], [], []
    for d in data:
        stem = os.path.splitext(d["file"])[0]
        with open(os.path.join(out, f"{stem}.gradcam.json")) as f:
            info = json.load(f)
        onehot = np.zeros(scenes.NUM_CLASSES)
        onehot[info["predicted"]["index"]] = 1
        logits.append(onehot)
        maps.append(np.load(os.path.join(out, f"{stem}.gradcam.npy")))
        infos.append(info)
    return np.stack(logits), np.stack(maps), infos


def main():
    t0 = time.time()
    data = shipped("testset")
    with open(os.path.join(ROOT, "demo", "RESULTS.json")) as f:
        text = f.read()
    results = json.loads(text)
    block = {
        "generated_by": "scripts/demo/evaluate_transformers.py",
        "method": ("gradcam's CLI: node bin/gradcam.js explain <scenes of class c> --model M --class c --raw "
                   "(automatic layer, method gradcam, target = ground-truth class); accuracy from the CLI's "
                   "predicted class (onnxruntime-node); pointing game / energy on the CLI's <stem>.gradcam.npy map "
                   "(128x128, [0,1]) with evaluate.py's definitions (see pointing_game above). 'where' is the CNN "
                   "above, run through the same CLI for an apples-to-apples comparison."),
        "models": {}, "testset": {},
    }
    for name, path in MODELS.items():
        logits, maps, infos = explain(name, path, data)
        cls, preds = classification(logits, data)
        pg, pm = pointing(maps, data)
        cls["pointing_game"] = pg
        cls["predictions"] = preds.tolist()
        cls["per_image_peak_xy"] = [p["peak"] for p in pm]
        block["testset"][name] = cls
        with open(os.path.join(ROOT, path), "rb") as f:
            b = f.read()
        import onnx
        m = onnx.load(os.path.join(ROOT, path))
        meta = {p.key: p.value for p in m.metadata_props}
        info = {"file": path, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest(),
                "input": "input", "input_shape": ["N", 3, 128, 128], "output": "logits", "output_shape": ["N", 10],
                "gradcam_layer_auto": infos[0]["layer"], "gradcam_layer_layout": infos[0]["layer_layout"],
                "normalization": "imagenet"}
        if "training" in meta and name != "where":
            tr = json.loads(meta["training"])
            info.update({"params": tr["params"], "config": tr["config"], "train_steps": tr["steps"],
                         "train_batch": tr["batch"], "train_seconds": tr["train_seconds"],
                         "val_accuracy_1000_t10k_scenes": tr["val_accuracy_1000_t10k_scenes"]})
        block["models"][name] = info
        print(f"{name}: accuracy {cls['accuracy']}, hit_mask {pg['hit_mask']}, tol15 {pg['hit_mask_tol15px']}, "
              f"energy in mask {pg['mean_energy_in_mask']} (layer {info['gradcam_layer_auto']})", flush=True)
    block["eval_seconds"] = round(time.time() - t0)
    results["transformers"] = block
    # keep the existing text byte for byte: append the new key before the closing brace
    assert text.rstrip().endswith("}")
    if '"transformers"' in text:  # re-run: drop the previous block (always the last key)
        text = text[:text.index(',\n "transformers"')] + "\n}\n"
    new = compact_json({"transformers": block})
    new = new.strip()[1:-1].strip("\n")
    text = text.rstrip()[:-1].rstrip() + ",\n" + new + "\n}\n"
    assert json.loads(text) == results
    with open(os.path.join(ROOT, "demo", "RESULTS.json"), "w") as f:
        f.write(text)
    print(f"wrote demo/RESULTS.json ({block['eval_seconds']} s)")


if __name__ == "__main__":
    main()
