#!/usr/bin/python3
"""Generate hybridembed's test fixtures: small random-weight models with the
real architectures, in the layouts Hugging Face users have, and PyTorch
goldens for them.

Needs Debian's python3-torch, python3-onnx, python3-pil, python3-numpy,
python3-sentencepiece and python3-regex (`apt-get install python3-torch
python3-onnx python3-pil python3-numpy python3-sentencepiece
python3-regex`); run it as /usr/bin/python3 (`make fixtures`). The outputs
are committed, so tests need no Python.

    make_fixtures.py                  write testdata/ (deterministic)
    make_fixtures.py --families       rewrite only the SigLIP, SigLIP 2 and
                                      immich fixtures (scripts/fixtures/families.py)
    make_fixtures.py --bench DIR      also write a full-size random-weight
                                      ViT-B/32 vision tower to DIR, and a
                                      full-size SigLIP 2 base with a
                                      256k-token Gemma-shaped tokenizer
                                      beside it (siglip2-base; for
                                      `make bench`; never committed)
"""

import argparse
import inspect
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
import bert  # noqa: E402
import clip  # noqa: E402
import families  # noqa: E402
import onnxvariants  # noqa: E402
import pilref  # noqa: E402
import preprocess  # noqa: E402
import tokgold  # noqa: E402
import toybpe  # noqa: E402

OPSET = 14
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

CORPUS = """a photo of a cat
a photo of a dog sitting on the grass
a red circle on a white background
a blue square and a green triangle
two cats sleeping on a sofa
a yellow star in the night sky
an astronaut riding a horse on the moon
a cup of coffee on a wooden table
the quick brown fox jumps over the lazy dog
a diagram of a neural network
a painting of a mountain lake at sunset
people walking in a busy street
a bowl of fruit with apples and bananas
a close up of a flower
an old car parked by the road
a black and white photo of a city
"""

TEXTS = [
    "a photo of a cat",
    "a red circle",
    "A BLUE square, and a green triangle!",
    "an astronaut riding a horse",
    "",
    "zebra xylophone quiz",
    "the " + "very " * 90 + "long caption",  # truncated to the model's max length
]


def synth_pixels(b, c, h, w):
    """Deterministic pixel_values that Go reproduces exactly (see the tests)."""
    bi, ci, yi, xi = np.meshgrid(np.arange(b), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return (np.sin(0.05 * (xi + 2 * yi) + ci + 0.7 * bi) * 1.5).astype(np.float32)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def export(model, args, path, input_names, output_names, dynamic_axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Newer PyTorch defaults to the dynamo exporter, whose graphs differ;
    # the TorchScript exporter keeps fixtures the same on every version.
    extra = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(model, args, path, input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True, **extra)


def text_config(vocab_size, hidden, layers, heads, max_pos):
    return {
        "model_type": "clip_text_model", "vocab_size": vocab_size, "hidden_size": hidden,
        "intermediate_size": hidden * 4, "num_hidden_layers": layers, "num_attention_heads": heads,
        "max_position_embeddings": max_pos, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
        "bos_token_id": vocab_size - 2, "eos_token_id": vocab_size - 1, "pad_token_id": 1,
    }


def vision_config(hidden, layers, heads, image_size, patch):
    return {
        "model_type": "clip_vision_model", "hidden_size": hidden, "intermediate_size": hidden * 4,
        "num_hidden_layers": layers, "num_attention_heads": heads, "image_size": image_size,
        "patch_size": patch, "num_channels": 3, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
    }


def clip_config(tc, vc, projection_dim):
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": projection_dim,
            "logit_scale_init_value": 2.6592, "text_config": tc, "vision_config": vc,
            "torch_dtype": "float32", "transformers_version": "4.40.0"}


def tokenizer_files(out, vocab, merges, max_length):
    write_json(os.path.join(out, "tokenizer.json"), toybpe.tokenizer_json(vocab, merges))
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "CLIPTokenizer", "model_max_length": max_length, "do_lower_case": True,
        "bos_token": toybpe.BOS, "eos_token": toybpe.EOS, "unk_token": toybpe.EOS, "pad_token": toybpe.EOS,
        "clean_up_tokenization_spaces": True, "errors": "replace",
    })
    write_json(os.path.join(out, "special_tokens_map.json"), {
        "bos_token": toybpe.BOS, "eos_token": toybpe.EOS, "unk_token": toybpe.EOS, "pad_token": toybpe.EOS})


def pad_batch(ids_list, pad_id):
    n = max(len(x) for x in ids_list)
    ids = torch.full((len(ids_list), n), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(ids_list), n), dtype=torch.int64)
    for i, x in enumerate(ids_list):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    return ids, mask


def sample_images(out):
    """Small images that real CLIP can tell apart (the demo ranks them)."""
    os.makedirs(out, exist_ok=True)
    files = {}

    im = Image.new("RGB", (320, 240), "white")
    ImageDraw.Draw(im).ellipse((90, 50, 230, 190), fill=(220, 30, 30))
    files["red_circle.png"] = im

    im = Image.new("RGB", (300, 300), (245, 245, 235))
    ImageDraw.Draw(im).rectangle((70, 70, 230, 230), fill=(30, 60, 210))
    files["blue_square.png"] = im

    im = Image.new("RGB", (260, 340), "white")
    ImageDraw.Draw(im).polygon([(130, 60), (230, 260), (30, 260)], fill=(30, 170, 60))
    files["green_triangle.jpg"] = im

    im = Image.new("RGB", (400, 300), (10, 15, 60))
    d = ImageDraw.Draw(im)
    cx, cy, r1, r2 = 200, 150, 110, 45
    pts = [(cx + (r1 if k % 2 == 0 else r2) * math.sin(k * math.pi / 5),
            cy - (r1 if k % 2 == 0 else r2) * math.cos(k * math.pi / 5)) for k in range(10)]
    d.polygon(pts, fill=(250, 215, 30))
    files["yellow_star.jpg"] = im

    for name, im in files.items():
        path = os.path.join(out, name)
        if name.endswith(".jpg"):
            im.save(path, quality=90, subsampling=2)  # 4:2:0, as cameras write
        else:
            im.save(path, optimize=True)
    return sorted(files)


def tiny_clip(out, golden_path, images_dir, image_names, vocab, merges):
    """transformers.js/Xenova layout: onnx/{text,vision}_model{,_quantized,_fp16}.onnx."""
    torch.manual_seed(0)
    tc = text_config(len(vocab), 64, 2, 4, 77)
    vc = vision_config(64, 2, 4, 224, 32)
    proj = 32
    text = clip.TextTower(tc, proj).eval()
    vision = clip.VisionTower(vc, proj).eval()
    clip.init_weights(text, seed=1)
    clip.init_weights(vision, seed=2)

    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    write_json(os.path.join(out, "config.json"), clip_config(tc, vc, proj))
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD, "resample": 3,
        "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224}})
    tokenizer_files(out, vocab, merges, 77)

    ids, mask = pad_batch([[vocab[toybpe.BOS], 5, vocab[toybpe.EOS]]], vocab[toybpe.EOS])
    export(text, (ids, mask), os.path.join(out, "onnx", "text_model.onnx"),
           ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"],
           {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "sequence_length"},
            "text_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"}})
    export(vision, (torch.zeros(1, 3, 224, 224),), os.path.join(out, "onnx", "vision_model.onnx"),
           ["pixel_values"], ["image_embeds", "last_hidden_state"],
           {"pixel_values": {0: "batch_size"}, "image_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}})
    for tower in ("text_model", "vision_model"):
        src = os.path.join(out, "onnx", tower + ".onnx")
        onnxvariants.quantize_weights(src, os.path.join(out, "onnx", tower + "_quantized.onnx"))
    onnxvariants.to_fp16(os.path.join(out, "onnx", "vision_model.onnx"), os.path.join(out, "onnx", "vision_model_fp16.onnx"))

    enc = toybpe.Encoder(vocab, merges)
    golden = {"model": "tiny-clip", "text": [], "pixels": {}, "images": []}
    with torch.no_grad():
        all_ids = [enc.encode(t, 77) for t in TEXTS]
        ids, mask = pad_batch(all_ids, vocab[toybpe.EOS])
        embeds, _ = text(ids, mask)
        for t, x, e in zip(TEXTS, all_ids, embeds):
            golden["text"].append({"text": t, "input_ids": x, "text_embeds": e.tolist()})

        px = synth_pixels(2, 3, 224, 224)
        embeds, _ = vision(torch.from_numpy(px))
        golden["pixels"] = {"shape": [2, 3, 224, 224], "image_embeds": embeds.tolist()}

        for name in image_names:
            arr = pilref.rgb(os.path.join(images_dir, name), 224, (224, 224))
            pv = pilref.pixel_values(arr, CLIP_MEAN, CLIP_STD)
            e, _ = vision(torch.from_numpy(pv)[None])
            golden["images"].append({"file": name, "image_embeds": e[0].tolist()})
    write_json(golden_path, golden)


def tiny_clip_joint(out, golden_path, images_dir, image_names, vocab, merges):
    """Optimum export of CLIPModel: one model.onnx taking all three inputs.

    Sizes, normalisation and resampling differ from tiny-clip on purpose, so
    that tests show the model's own config files are honoured."""
    torch.manual_seed(0)
    max_len = 32
    tc = text_config(len(vocab), 48, 2, 3, max_len)
    vc = vision_config(48, 2, 3, 64, 16)
    proj = 24
    model = clip.JointCLIP(clip.TextTower(tc, proj), clip.VisionTower(vc, proj)).eval()
    clip.init_weights(model.text, seed=3)
    clip.init_weights(model.vision, seed=4)
    mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]

    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "config.json"), clip_config(tc, vc, proj))
    # The older feature-extractor form (plain ints), as many repos still have.
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "crop_size": 64, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": mean, "image_std": std,
        "resample": 2, "size": 72})
    tokenizer_files(out, vocab, merges, max_len)

    ids, mask = pad_batch([[vocab[toybpe.BOS], 5, vocab[toybpe.EOS]]], vocab[toybpe.EOS])
    export(model, (ids, torch.zeros(1, 3, 64, 64), mask), os.path.join(out, "model.onnx"),
           ["input_ids", "pixel_values", "attention_mask"],
           ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"],
           {"input_ids": {0: "text_batch_size", 1: "sequence_length"},
            "attention_mask": {0: "text_batch_size", 1: "sequence_length"},
            "pixel_values": {0: "image_batch_size"},
            "logits_per_image": {0: "image_batch_size", 1: "text_batch_size"},
            "logits_per_text": {0: "text_batch_size", 1: "image_batch_size"},
            "text_embeds": {0: "text_batch_size"}, "image_embeds": {0: "image_batch_size"}})

    enc = toybpe.Encoder(vocab, merges)
    golden = {"model": "tiny-clip-joint", "text": [], "pixels": {}, "images": []}
    with torch.no_grad():
        all_ids = [enc.encode(t, max_len) for t in TEXTS]
        ids, mask = pad_batch(all_ids, vocab[toybpe.EOS])
        # CLIPModel's outputs are L2-normalised; the goldens are what the graph returns.
        embeds = torch.nn.functional.normalize(model.text(ids, mask)[0], dim=-1)
        for t, x, e in zip(TEXTS, all_ids, embeds):
            golden["text"].append({"text": t, "input_ids": x, "text_embeds": e.tolist()})
        px = synth_pixels(2, 3, 64, 64)
        embeds = torch.nn.functional.normalize(model.vision(torch.from_numpy(px))[0], dim=-1)
        golden["pixels"] = {"shape": [2, 3, 64, 64], "image_embeds": embeds.tolist()}
        for name in image_names:
            arr = pilref.rgb(os.path.join(images_dir, name), 72, (64, 64), resample=Image.BILINEAR)
            e = torch.nn.functional.normalize(model.vision(torch.from_numpy(pilref.pixel_values(arr, mean, std))[None])[0], dim=-1)
            golden["images"].append({"file": name, "image_embeds": e[0].tolist()})
    write_json(golden_path, golden)


ST_TEXTS = [
    "This is an example sentence",
    "Each sentence is converted",
    "Café résumé: naïve façade!",
    "中文 mixed with English, and numbers 12345.",
    "",
    "a photo of a cat " * 30,  # longer than max_seq_length: truncated
]


def tiny_st(out, golden_path, hidden=48, layers=2, heads=4, inner=96):
    """A sentence-transformers repo: onnx/model.onnx (BERT, last_hidden_state),
    modules.json with Transformer, Pooling (mean) and Normalize, and a
    sentence_bert_config.json whose max_seq_length (64) overrides the
    tokenizer's truncation (128). With all-MiniLM-L6-v2's sizes (384, 6, 12,
    1536) and no golden, it is the text benchmark's model."""
    torch.manual_seed(0)
    vocab = bert.build_vocab(CORPUS.splitlines() + ST_TEXTS, 600)
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": len(vocab), "hidden_size": hidden,
           "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": inner, "hidden_act": "gelu",
           "max_position_embeddings": 128, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0}
    model = bert.Bert(cfg).eval()
    bert.init(model, seed=6)
    max_seq = 64

    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    os.makedirs(os.path.join(out, "2_Normalize"), exist_ok=True)
    write_json(os.path.join(out, "config.json"), cfg)
    write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    write_json(os.path.join(out, "sentence_bert_config.json"), {"max_seq_length": max_seq, "do_lower_case": False})
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": cfg["hidden_size"], "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True})
    write_json(os.path.join(out, "tokenizer.json"), bert.tokenizer_json(vocab, 128))
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512, "cls_token": "[CLS]",
        "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]",
        "tokenize_chinese_chars": True, "strip_accents": None})
    write_json(os.path.join(out, "special_tokens_map.json"), {
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"})
    with open(os.path.join(out, "vocab.txt"), "w") as f:
        f.write("\n".join(sorted(vocab, key=vocab.get)) + "\n")

    ids = torch.tensor([[vocab["[CLS]"], 7, vocab["[SEP]"]]])
    export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), os.path.join(out, "onnx", "model.onnx"),
           ["input_ids", "attention_mask", "token_type_ids"], ["last_hidden_state"],
           {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "sequence_length"},
            "token_type_ids": {0: "batch_size", 1: "sequence_length"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"}})

    if golden_path is None:
        return
    all_ids = [bert.encode(t, vocab, max_seq) for t in ST_TEXTS]
    n = max(len(x) for x in all_ids)
    ids = torch.zeros((len(all_ids), n), dtype=torch.int64)
    mask = torch.zeros_like(ids)
    for i, x in enumerate(all_ids):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    golden = {"model": "tiny-st", "texts": []}
    with torch.no_grad():
        hidden = model(ids, mask, torch.zeros_like(ids))
        pooled = {m: bert.pool(hidden, mask, m) for m in ("mean", "cls", "max")}
        normalized = torch.nn.functional.normalize(pooled["mean"], dim=-1)
    for i, t in enumerate(ST_TEXTS):
        golden["texts"].append({"text": t, "input_ids": all_ids[i], "embedding": normalized[i].tolist(),
                                "mean": pooled["mean"][i].tolist(), "cls": pooled["cls"][i].tolist(),
                                "max": pooled["max"][i].tolist()})
    write_json(golden_path, golden)


def bench_model(out, testdata):
    """Full-size ViT-B/32 towers (random weights): the vision tower (88M
    parameters) and the text transformer (12 layers, width 512, 8 heads, 77
    positions), with the tiny fixture's tokenizer, whose vocabulary its
    embedding table is sized for (the vocabulary's size barely changes the
    cost of a text)."""
    torch.manual_seed(0)
    vc = vision_config(768, 12, 12, 224, 32)
    vision = clip.VisionTower(vc, 512).eval()
    clip.init_weights(vision, seed=5)
    tok_dir = os.path.join(testdata, "models", "tiny-clip")
    with open(os.path.join(tok_dir, "config.json")) as f:
        vocab_size = json.load(f)["text_config"]["vocab_size"]
    tc = text_config(vocab_size, 512, 12, 8, 77)
    text = clip.TextTower(tc, 512).eval()
    clip.init_weights(text, seed=6)
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(os.path.join(tok_dir, name), os.path.join(out, name))
    write_json(os.path.join(out, "config.json"), clip_config(tc, vc, 512))
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD, "resample": 3,
        "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224}})
    ids, mask = pad_batch([[vocab_size - 2, 5, vocab_size - 1]], vocab_size - 1)
    export(text, (ids, mask), os.path.join(out, "onnx", "text_model.onnx"),
           ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"],
           {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "sequence_length"},
            "text_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"}})
    export(vision, (torch.zeros(1, 3, 224, 224),), os.path.join(out, "onnx", "vision_model.onnx"),
           ["pixel_values"], ["image_embeds", "last_hidden_state"],
           {"pixel_values": {0: "batch_size"}, "image_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}})
    # A MiniLM-L6-shaped sentence encoder for the text benchmark.
    tiny_st(os.path.join(os.path.dirname(out.rstrip("/")), "minilm-l6"), None, hidden=384, layers=6, heads=12, inner=1536)
    # The variants transformers.js repos ship: dynamic int8 (MatMulInteger),
    # and fp16.
    onnxvariants.quantize_dynamic(os.path.join(out, "onnx", "vision_model.onnx"), os.path.join(out, "onnx", "vision_model_quantized.onnx"))
    onnxvariants.to_fp16(os.path.join(out, "onnx", "vision_model.onnx"), os.path.join(out, "onnx", "vision_model_fp16.onnx"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--testdata", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata"))
    ap.add_argument("--bench", metavar="DIR", help="write the full-size ViT-B/32 bench model here and exit")
    ap.add_argument("--bench-siglip2", metavar="DIR", help="write only the full-size SigLIP 2 bench model here and exit")
    ap.add_argument("--families", action="store_true",
                    help="regenerate only the SigLIP, SigLIP 2 and immich fixtures (testdata/preprocess and images must exist)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    if args.bench_siglip2:
        families.bench_siglip2(args.bench_siglip2)
        return
    if args.bench:
        bench_model(args.bench, args.testdata)
        families.bench_siglip2(os.path.join(os.path.dirname(args.bench.rstrip("/")), "siglip2-base"))
        return

    td = os.path.abspath(args.testdata)
    if args.families:
        vocab, merges = toybpe.train(CORPUS.splitlines() + TEXTS, 400)
        families.build(td, vocab, merges, toybpe)
        return
    images = os.path.join(td, "images")
    models = os.path.join(td, "models")
    golden = os.path.join(td, "golden")
    prep = os.path.join(td, "preprocess")
    toks = os.path.join(td, "tokenizers")
    for d in (images, models, golden, prep, toks):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    preprocess.build(prep)
    tokgold.build(toks, CORPUS.splitlines())
    names = sample_images(images)
    vocab, merges = toybpe.train(CORPUS.splitlines() + TEXTS, 400)
    tiny_clip(os.path.join(models, "tiny-clip"), os.path.join(golden, "tiny-clip.json"), images, names, vocab, merges)
    tiny_clip_joint(os.path.join(models, "tiny-clip-joint"), os.path.join(golden, "tiny-clip-joint.json"), images, names, vocab, merges)
    tiny_st(os.path.join(models, "tiny-st"), os.path.join(golden, "tiny-st.json"))
    families.build(td, vocab, merges, toybpe)


if __name__ == "__main__":
    main()
