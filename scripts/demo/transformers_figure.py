"""README figure: Grad-CAM of the tiny ViT, the tiny Swin (and the CNN `where`) on four shipped demo scenes.

  /usr/bin/python3 scripts/demo/transformers_figure.py     # -> docs/img/demo-transformers.png

Maps come from gradcam's CLI (node bin/gradcam.js explain --class <true class> --no-caption, automatic
layer); the overlays it writes are tiled with PIL and labelled. The four scenes (demo/scenes 01, 03, 07, 08)
were fixed before any transformer was trained, not picked by model output.
"""

import json
import os
import subprocess
import sys

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCENES = [("01_trouser.png", 1), ("03_dress.png", 3), ("07_sneaker.png", 7), ("08_bag.png", 8)]
ROWS = [("ViT (tiny)", "demo/models/vit_tiny.onnx"), ("Swin (tiny)", "demo/models/swin_tiny.onnx"),
        ("CNN (where)", "demo/models/where.onnx")]
OUT = "/tmp/gradcam-demo/transformers_figure"
TILE, PAD, LEFT, CAP, TOP = 144, 6, 104, 18, 22
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def main():
    font, bold = ImageFont.truetype(FONT, 12), ImageFont.truetype(BOLD, 13)
    tiles = {}
    for row, model in ROWS:
        out = os.path.join(OUT, os.path.basename(model))
        for fname, cls in SCENES:
            subprocess.run(["node", os.path.join(ROOT, "bin", "gradcam.js"), "explain",
                            os.path.join(ROOT, "demo", "scenes", fname), "--model", os.path.join(ROOT, model),
                            "--class", str(cls), "--no-caption", "--quiet", "--out", out], check=True, cwd=ROOT)
            stem = os.path.splitext(fname)[0]
            with open(os.path.join(out, f"{stem}.gradcam.json")) as f:
                info = json.load(f)
            img = Image.open(os.path.join(out, f"{stem}.gradcam.png")).convert("RGB")
            p = info["predicted"]
            ok = p["index"] == cls
            cap = f"pred {p['label']} {p['probability']:.2f}"
            tiles[row, fname] = (img, cap, ok)
    n_rows = 1 + len(ROWS)
    W = LEFT + len(SCENES) * (TILE + PAD)
    H = TOP + n_rows * (TILE + CAP + PAD)
    canvas = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(canvas)
    for j, (fname, cls) in enumerate(SCENES):
        x = LEFT + j * (TILE + PAD)
        d.text((x + TILE // 2, 4), scenes.LABELS[cls], fill="black", font=bold, anchor="ma")
    labels = [("scene", None)] + ROWS
    for i, (row, _) in enumerate(labels):
        y = TOP + i * (TILE + CAP + PAD)
        d.text((6, y + TILE // 2), row, fill="black", font=bold, anchor="lm")
        for j, (fname, cls) in enumerate(SCENES):
            x = LEFT + j * (TILE + PAD)
            if row == "scene":
                img = Image.open(os.path.join(ROOT, "demo", "scenes", fname)).convert("RGB")
                cap, ok = "true class above", True
            else:
                img, cap, ok = tiles[row, fname]
            canvas.paste(img.resize((TILE, TILE), Image.LANCZOS), (x, y))
            d.text((x + TILE // 2, y + TILE + 2), cap, fill="black" if ok else "#b00000", font=font, anchor="ma")
    path = os.path.join(ROOT, "docs", "img", "demo-transformers.png")
    canvas = canvas.quantize(colors=256, method=Image.MEDIANCUT, dither=Image.NONE)  # keep the PNG small
    canvas.save(path, optimize=True)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
