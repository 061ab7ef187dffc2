#!/usr/bin/env python3
"""Train the demo model: a tiny CLIP that knows coloured shapes.

    /usr/bin/python3 scripts/train_demo.py [--out testdata/models/shapes-clip]

Scenes (a shape of a colour and a size, somewhere on a background) are
rendered with Pillow, saved as JPEG or PNG and decoded again, preprocessed
exactly as CLIPImageProcessor does (bicubic resize of the shortest edge,
centre crop, rescale, normalise), and paired with captions from templates
("a red circle", "a photo of a small blue square on a white background").
The towers are the real CLIP architecture (scripts/fixtures/clip.py, the
fixture models' code) with a byte-level BPE vocabulary learnt from the
captions in CLIP's own form, trained contrastively on CPU with fixed seeds
in a few minutes. A caption is a positive for every image that it
describes (so two red circles in a batch are not pushed apart).

It writes the Xenova layout (onnx/{text,vision}_model{,_quantized}.onnx,
config.json, preprocessor_config.json, tokenizer files), a held-out set of
scenes it never trained on (heldout/, JPEG and PNG, with labels.json) and
prints the held-out accuracy, which the Go test checks again.
"""

import argparse
import io
import json
import math
import os
import random
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
from make_fixtures import clip, onnxvariants, toybpe  # noqa: E402

COLOURS = {"red": (220, 35, 35), "green": (35, 170, 60), "blue": (35, 70, 215),
           "yellow": (240, 205, 30), "purple": (140, 50, 180), "orange": (245, 130, 25)}
SHAPES = ["circle", "square", "triangle", "star"]
BACKGROUNDS = {"white": (250, 250, 250), "cream": (245, 240, 225), "gray": (128, 128, 128),
               "black": (15, 15, 15), "dark": (15, 20, 60)}
SIZES = ["small", "large"]
TEMPLATES = [
    "a {c} {s}", "a photo of a {c} {s}", "{c} {s}", "a {z} {c} {s}", "a photo of a {z} {c} {s}",
    "a {c} {s} on a {b} background", "a photo of a {z} {c} {s} on a {b} background", "a drawing of a {c} {s}",
]
IMAGE = 64   # the model's input: shortest edge and crop
PATCH = 8


def draw_shape(d, shape, cx, cy, r, fill):
    if shape == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        s = r * 0.88
        d.rectangle((cx - s, cy - s, cx + s, cy + s), fill=fill)
    elif shape == "triangle":
        d.polygon([(cx, cy - r), (cx + r * 0.95, cy + r * 0.8), (cx - r * 0.95, cy + r * 0.8)], fill=fill)
    else:
        pts = []
        for k in range(10):
            a = -math.pi / 2 + k * math.pi / 5
            rr = r if k % 2 == 0 else r * 0.42
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        d.polygon(pts, fill=fill)


def jitter(rng, rgb, amount):
    return tuple(max(0, min(255, v + rng.randint(-amount, amount))) for v in rgb)


def scene(rng):
    """A random scene and its attributes; the shape stays inside the centre
    square, which the centre crop keeps."""
    c, s, z, b = rng.choice(list(COLOURS)), rng.choice(SHAPES), rng.choice(SIZES), rng.choice(list(BACKGROUNDS))
    w, h = rng.randint(80, 320), rng.randint(80, 320)
    side = min(w, h)
    im = Image.new("RGB", (w, h), jitter(rng, BACKGROUNDS[b], 12))
    r = side * (rng.uniform(0.12, 0.2) if z == "small" else rng.uniform(0.28, 0.42))
    margin = side / 2 - r
    cx = w / 2 + rng.uniform(-margin, margin) * 0.8
    cy = h / 2 + rng.uniform(-margin, margin) * 0.8
    draw_shape(ImageDraw.Draw(im), s, cx, cy, r, jitter(rng, COLOURS[c], 20))
    return im, {"colour": c, "shape": s, "size": z, "background": b}


def roundtrip(rng, im, fmt=None):
    fmt = fmt or rng.choice(["JPEG", "PNG"])
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=rng.randint(70, 95))
    else:
        im.save(buf, "PNG")
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def preprocess(im):
    """CLIPImageProcessor: shortest edge to IMAGE (bicubic), centre crop."""
    w, h = im.size
    if w < h:
        nw, nh = IMAGE, int(IMAGE * h / w)
    else:
        nw, nh = int(IMAGE * w / h), IMAGE
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - IMAGE) // 2, (nh - IMAGE) // 2
    return np.asarray(im.crop((left, top, left + IMAGE, top + IMAGE)), dtype=np.uint8)


def caption(rng, a):
    return rng.choice(TEMPLATES).format(c=a["colour"], s=a["shape"], z=a["size"], b=a["background"])


def describes(text, a):
    """Whether a caption is true of a scene (what it names, it matches)."""
    words = set(text.split())
    for key, names in (("colour", COLOURS), ("shape", SHAPES), ("size", SIZES)):
        named = words & set(names)
        if named and named != {a[key]}:
            return False
    if " background" in text and a["background"] + " background" not in text:
        return False
    return True


def corpus():
    out = []
    for c in COLOURS:
        for s in SHAPES:
            for z in SIZES:
                for b in BACKGROUNDS:
                    out += [t.format(c=c, s=s, z=z, b=b) for t in TEMPLATES]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    ap.add_argument("--out", default=os.path.join(root, "testdata", "models", "shapes-clip"))
    ap.add_argument("--heldout", default=os.path.join(root, "testdata", "shapes-heldout"))
    ap.add_argument("--scenes", type=int, default=16000)
    ap.add_argument("--steps", type=int, default=1800)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(2)  # the same arithmetic on every machine
    torch.use_deterministic_algorithms(True)
    rng = random.Random(0)

    vocab, merges = toybpe.train(corpus(), 120)
    enc = toybpe.Encoder(vocab, merges)
    tc = mf.text_config(len(vocab), 64, 2, 4, 77)
    vc = mf.vision_config(64, 2, 4, IMAGE, PATCH)
    proj = 64
    text = clip.TextTower(tc, proj)
    vision = clip.VisionTower(vc, proj)
    clip.init_weights(text, seed=1)
    clip.init_weights(vision, seed=2)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    print(f"rendering {args.scenes} training scenes", flush=True)
    pixels = np.zeros((args.scenes, IMAGE, IMAGE, 3), dtype=np.uint8)
    attrs = []
    for i in range(args.scenes):
        im, a = scene(rng)
        pixels[i] = preprocess(roundtrip(rng, im))
        attrs.append(a)
    mean = torch.tensor(mf.CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(mf.CLIP_STD).view(1, 3, 1, 1)

    def to_input(batch):
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
        return (x - mean) / std

    def tokens(texts):
        return mf.pad_batch([enc.encode(t, 77) for t in texts], vocab[toybpe.EOS])

    params = list(text.parameters()) + list(vision.parameters()) + [logit_scale]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.05)
    warm = 100
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    text.train()
    vision.train()
    for step in range(args.steps):
        idx = [rng.randrange(args.scenes) for _ in range(args.batch)]
        caps = [caption(rng, attrs[i]) for i in idx]
        ids, mask = tokens(caps)
        t, _ = text(ids, mask)
        v, _ = vision(to_input(pixels[idx]))
        t, v = F.normalize(t, dim=-1), F.normalize(v, dim=-1)
        logits = logit_scale.clamp(max=math.log(100)).exp() * v @ t.t()  # images x captions
        target = torch.tensor([[1.0 if describes(caps[j], attrs[i]) else 0.0 for j in range(len(idx))] for i in idx])
        loss = 0.5 * (-(target / target.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
                      - (target.t() / target.t().sum(1, keepdim=True) * F.log_softmax(logits.t(), 1)).sum(1).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  scale {logit_scale.exp().item():.1f}", flush=True)
    text.eval()
    vision.eval()

    # Held-out scenes, rendered from another seed: each class twice, saved
    # as both JPEG and PNG.
    shutil.rmtree(args.heldout, ignore_errors=True)
    os.makedirs(args.heldout)
    hrng = random.Random(12345)
    labels = {}
    n = 0
    for c in COLOURS:
        for s in SHAPES:
            for k in range(2):
                while True:
                    im, a = scene(hrng)
                    if a["colour"] == c and a["shape"] == s:
                        break
                    # draw until the scene is of this class
                base = f"{n:03d}_{c}_{s}"
                im.save(os.path.join(args.heldout, base + ".png"), optimize=True)
                im.save(os.path.join(args.heldout, base + ".jpg"), quality=90)
                labels[base] = a
                n += 1
    with open(os.path.join(args.heldout, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1, sort_keys=True)

    classes = [(c, s) for c in COLOURS for s in SHAPES]
    with torch.no_grad():
        ids, mask = tokens([f"a {c} {s}" for c, s in classes])
        t = F.normalize(text(ids, mask)[0], dim=-1)
        for ext in (".png", ".jpg"):
            names = sorted(labels)
            x = np.stack([preprocess(Image.open(os.path.join(args.heldout, b + ext)).convert("RGB")) for b in names])
            v = F.normalize(vision(to_input(x))[0], dim=-1)
            sims = t @ v.t()  # classes x images
            top = sims.argmax(1)
            t2i = sum((labels[names[j]]["colour"], labels[names[j]]["shape"]) == classes[i] for i, j in enumerate(top.tolist()))
            i2t = sum(classes[k] == (labels[names[j]]["colour"], labels[names[j]]["shape"]) for j, k in enumerate(sims.argmax(0).tolist()))
            print(f"held-out {ext}: text->image top-1 {t2i}/{len(classes)}, image->text {i2t}/{len(names)}")

    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "onnx"))
    mf.write_json(os.path.join(out, "config.json"), mf.clip_config(tc, vc, proj))
    mf.write_json(os.path.join(out, "preprocessor_config.json"), {
        "crop_size": {"height": IMAGE, "width": IMAGE}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": mf.CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor", "image_std": mf.CLIP_STD, "resample": 3,
        "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": IMAGE}})
    mf.tokenizer_files(out, vocab, merges, 77)
    ids, mask = tokens(["a red circle"])
    mf.export(text, (ids, mask), os.path.join(out, "onnx", "text_model.onnx"),
              ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"],
              {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "sequence_length"},
               "text_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"}})
    mf.export(vision, (torch.zeros(1, 3, IMAGE, IMAGE),), os.path.join(out, "onnx", "vision_model.onnx"),
              ["pixel_values"], ["image_embeds", "last_hidden_state"],
              {"pixel_values": {0: "batch_size"}, "image_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}})
    for tower in ("text_model", "vision_model"):
        onnxvariants.quantize_weights(os.path.join(out, "onnx", tower + ".onnx"), os.path.join(out, "onnx", tower + "_quantized.onnx"))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("# shapes-clip: the demo model\n\nA tiny CLIP (the real architecture, about 0.3M parameters) trained by\n"
                "`scripts/train_demo.py` on rendered coloured shapes. It knows six colours\n"
                f"({', '.join(COLOURS)}) and four shapes ({', '.join(SHAPES)}), small or large, on\n"
                "plain backgrounds, and nothing else. For real images use\n"
                "`hybridembed models pull openai/clip-vit-base-patch32`.\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
