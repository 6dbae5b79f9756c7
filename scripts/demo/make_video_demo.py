#!/usr/bin/python3
"""The driving demo clip (issue 26): a generated dash-cam clip in the street demo's world (make_detect_demo.py).

    /usr/bin/python3 scripts/demo/make_video_demo.py      # writes demo/video/dashcam.mp4 + events.json (needs ffmpeg)

3 s at 10 frames/s, 96x96 (the street detectors' input): a parked car, a traffic light, and a pedestrian
crossing the road from left to right. Events:
* 1.0-1.6 s: the traffic light flickers (its lamp goes dark every other frame);
* from 1.8 s: a light reflection (the glare spot of the street demo) appears on the road, away from the
  pedestrian, and stays.
The shortcut model (street_glare.onnx) was trained on footage where every pedestrian stood on a reflection;
`npm run demo:video` shows what each model's pedestrian map does when the reflection appears.
events.json: the events' times and the reflection's box, the pedestrian's box per frame.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import make_detect_demo as street  # noqa: E402  (the scene drawing: background, car, person, light, glare)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "demo", "video")
S, FPS, SECONDS = street.S, 10, 3.0
FLICKER = (1.0, 1.6)
GLARE_FROM = 1.8
GLARE_AT = (70.0, 84.0)


def frames():
    rng = np.random.default_rng(26)
    bg, hz = street.background(rng)
    base = bg.copy()
    street.car(base, 20, hz + 16, 0.8, np.random.default_rng(1))
    n = int(SECONDS * FPS)
    out, people, light_box, glare_box = [], [], None, None
    for k in range(n):
        t = k / FPS
        img = base.copy()
        r = np.random.default_rng(7)  # the same lamp (red) in every frame
        light_box = street.light(img, 84, hz + 8, 0.9, r)
        if FLICKER[0] <= t < FLICKER[1] and k % 2 == 1:  # the lamp goes dark
            x1, y1, x2, y2 = light_box
            street.rect(img, x1, y1, x2, y2, [0.12, 0.12, 0.12])
        xb = 30 + (52 - 30) * k / (n - 1)  # the pedestrian crosses
        people.append([round(v, 2) for v in street.person(img, xb, S - 10, 1.0, np.random.default_rng(3))])
        if t >= GLARE_FROM:
            glare_box = street.glare(img, GLARE_AT[0], GLARE_AT[1], np.random.default_rng(5))
        img += np.random.default_rng(100 + k).normal(0, 0.01, img.shape).astype(np.float32)  # sensor noise
        out.append((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    return out, people, light_box, glare_box


def main():
    os.makedirs(OUT, exist_ok=True)
    imgs, people, light_box, glare_box = frames()
    clip = os.path.join(OUT, "dashcam.mp4")
    p = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{S}x{S}", "-framerate", str(FPS),
                        "-i", "pipe:0", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv444p", clip], input=b"".join(i.tobytes() for i in imgs))
    if p.returncode:
        sys.exit(p.returncode)
    with open(os.path.join(OUT, "events.json"), "w") as f:
        json.dump({"fps": FPS, "frames": len(imgs), "size": [S, S], "flicker": list(FLICKER), "reflection_from": GLARE_FROM,
                   "reflection_box": [round(v, 2) for v in glare_box], "light_box": [round(v, 2) for v in light_box], "pedestrian_boxes": people}, f, indent=1)
    print(f"wrote {clip} ({len(imgs)} frames) and events.json")


if __name__ == "__main__":
    main()
