"""Write the shipped demo data (independent of the trained models):

  demo/labels.txt                    the 10 class names, one per line (index = line number - 1)
  demo/scenes/                       12 example scenes for `npm run demo` + annotations.json (+ mask PNGs)
  demo/testset/                      120 held-out scenes (12 per class), no mark, + annotations.json
  demo/testset_marked/               54 held-out scenes of the 9 non-Bag classes (6 each) carrying the
                                     shortcut mark, + annotations.json (with mark_box)
  demo/photos/                       4 public-domain / CC0 photographs from skimage, <= 320 px JPEG

  /usr/bin/python3 scripts/demo/export_assets.py

All scenes use Fashion-MNIST t10k items (never seen in training). Deterministic: rerunning rewrites
byte-identical PNGs (PIL, same versions).
"""

import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO = os.path.join(ROOT, "demo")
SHORTCUT_CLASS = 8

TESTSET_SEED, TESTSET_N = 401, 120
MARKED_SEED, MARKED_PER_CLASS = 402, 6
SCENES_SEED = 501

PREPROCESSING = ("PNG -> RGB uint8 (no alpha, no colour management) -> float32 /255 -> "
                 "(x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] per channel -> NCHW [N,3,128,128]")
MASK_ENCODING = ("mask_rle: {size: [H, W], order: 'row-major', counts: [...]}: run lengths over the mask "
                 "flattened in row-major (C) order, alternating 0-runs and 1-runs, starting with a 0-run "
                 "(possibly 0). NOTE: unlike COCO's uncompressed RLE, which is column-major.")
BOX = "box/mark_box: [x0, y0, x1, y1] pixels, x1/y1 exclusive; box is the tight box of the mask."


def save_png(path, arr):
    Image.fromarray(arr).save(path, "PNG", optimize=True)


def entry(fname, sc, seed, index):
    return {
        "file": fname, "class": sc["label"], "label": scenes.LABELS[sc["label"]], "box": sc["box"],
        "mask_rle": scenes.mask_to_rle(sc["mask"]), "mark_box": sc["mark_box"],
        "mask_area": int(sc["mask"].sum()), "fmnist_split": "t10k", "fmnist_index": sc["item"],
        "background": sc["background"], "generator": {"split": "t10k", "seed": seed, "index": index,
                                                       "cls": sc["label"], "mark": sc["mark_box"] is not None},
    }


def header(desc):
    return {"description": desc, "labels": scenes.LABELS, "image_size": [scenes.SIZE, scenes.SIZE],
            "preprocessing": PREPROCESSING, "mask_encoding": MASK_ENCODING, "box_format": BOX,
            "licence": "Generated scenes; see demo/ASSETS.md (Fashion-MNIST MIT, skimage CC0/public-domain "
                       "backgrounds)."}


def write_set(dirname, desc, items):
    """items: list of (seed, index, cls, mark)."""
    d = os.path.join(DEMO, dirname)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".png"):
            os.remove(os.path.join(d, f))
    ann = header(desc)
    ann["images"] = []
    for k, (seed, index, cls, mark) in enumerate(items):
        sc = scenes.SceneGenerator("t10k", seed).scene(index, cls=cls, mark=mark)
        fname = f"{k:03d}.png"
        save_png(os.path.join(d, fname), sc["image"])
        ann["images"].append(entry(fname, sc, seed, index))
    with open(os.path.join(d, "annotations.json"), "w") as f:
        json.dump(ann, f, separators=(",", ":"))
    return ann


def contrast(sc):
    """Distance between the object's mean colour and the mean colour of a 4-px ring around it (0..~1.7)."""
    import cv2
    m = sc["mask"]
    ring = cv2.dilate(m, np.ones((9, 9), np.uint8)) - m
    img = sc["image"].astype(np.float32) / 255.0
    return float(np.linalg.norm(img[m > 0].mean(0) - img[ring > 0].mean(0)))


def pick_visible(seed, k, cls, mark):
    """Demo scenes are chosen for visibility only (never by model output): the first index k, k+12, k+24,
    ... whose object covers >= 1200 px and stands out (contrast >= 0.35)."""
    gen = scenes.SceneGenerator("t10k", seed)
    for index in range(k, 100000, 12):
        sc = gen.scene(index, cls=cls, mark=mark)
        if sc["mask"].sum() >= 1200 and contrast(sc) >= 0.35:
            return index, sc
    raise RuntimeError("no visible scene")


def main():
    with open(os.path.join(DEMO, "labels.txt"), "w") as f:
        f.write("\n".join(scenes.LABELS) + "\n")

    write_set("testset", f"Held-out test split: {TESTSET_N} scenes, {TESTSET_N // 10} per class, no mark "
              f"(scenes.SceneGenerator('t10k', {TESTSET_SEED}).scene(i, cls=i % 10)).",
              [(TESTSET_SEED, i, i % 10, False) for i in range(TESTSET_N)])

    others = [c for c in range(10) if c != SHORTCUT_CLASS]
    n = MARKED_PER_CLASS * len(others)
    write_set("testset_marked", f"Shortcut test split: {n} scenes of the 9 classes other than "
              f"'{scenes.LABELS[SHORTCUT_CLASS]}' ({MARKED_PER_CLASS} each), every one carrying the spurious "
              f"mark (12 px red-white target, mark_box) that the shortcut model associates with "
              f"'{scenes.LABELS[SHORTCUT_CLASS]}' (scenes.SceneGenerator('t10k', {MARKED_SEED}).scene(i, "
              f"cls=others[i % 9], mark=True)).",
              [(MARKED_SEED, i, others[i % len(others)], True) for i in range(n)])

    # demo scenes: one clean scene per class, plus two marked scenes of other classes
    d = os.path.join(DEMO, "scenes")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".png"):
            os.remove(os.path.join(d, f))
    ann = header("Example scenes for `npm run demo`: one clean scene per class (where.onnx) and two scenes "
                 "of other classes carrying the shortcut mark (shortcut.onnx follows the mark). Chosen for "
                 "visibility only (export_assets.pick_visible: object >= 1200 px and contrasting with its "
                 "surroundings), never by model output.")
    ann["images"] = []
    items = [(c, False) for c in range(10)] + [(7, True), (1, True)]
    for k, (cls, mark) in enumerate(items):
        seed = SCENES_SEED
        index, sc = pick_visible(seed, k, cls, mark)
        slug = scenes.LABELS[cls].lower().replace("/", "-").replace(" ", "-")
        fname = f"{k:02d}_{slug}{'_marked' if mark else ''}.png"
        save_png(os.path.join(d, fname), sc["image"])
        mname = fname.replace(".png", "_mask.png")
        Image.fromarray(sc["mask"] * 255).convert("1").save(os.path.join(d, mname), "PNG", optimize=True)
        e = entry(fname, sc, seed, index)
        e["mask_png"] = mname
        ann["images"].append(e)
    with open(os.path.join(d, "annotations.json"), "w") as f:
        json.dump(ann, f, indent=1)

    # real photographs for users' own models
    d = os.path.join(DEMO, "photos")
    os.makedirs(d, exist_ok=True)
    for name, fname in [("chelsea", "chelsea.png"), ("coffee", "coffee.png"),
                        ("astronaut", "astronaut.png"), ("rocket", "rocket.jpg")]:
        im = Image.open(os.path.join(scenes.SKIMAGE_DATA, fname)).convert("RGB")
        im.thumbnail((320, 320), Image.LANCZOS)
        im.save(os.path.join(d, f"{name}.jpg"), "JPEG", quality=88, optimize=True)
    print("done")


if __name__ == "__main__":
    main()
