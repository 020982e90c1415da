"""Train `tiny-shapes`: a real CLIP (transformers CLIPModel) with tiny widths, on generated
pictures of coloured shapes, then export it as a picfind bundle (both ONNX layouts).

Reproducible: fixed seeds, one thread. About 20 minutes on one core of a 2-core machine;
run once, the bundle is committed, tests never train.

    python scripts/train_tiny_shapes.py --out src/picfind/models/bundles/tiny-shapes --steps 3000
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPConfig, CLIPModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from picfind.models.preprocess import Preprocessing  # noqa: E402
from picfind.models.shapes import COLOURS, Scene, random_scene, render  # noqa: E402
from picfind.models.tokenizer import TextTokenizer  # noqa: E402

IMAGE_SIZE = 64
HELD_OUT = {("purple", "triangle")}  # never captioned in training: a composition check
CAPTION_KEYS = [
    (("count", "colour", "shape", "background"), 3),
    (("colour", "shape"), 3),
    (("count", "colour", "shape"), 2),
    (("colour", "shape", "background"), 2),
    (("shape",), 1),
    (("shape", "background"), 1),
]


def tiny_config() -> CLIPConfig:
    return CLIPConfig(
        text_config=dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                         intermediate_size=256, max_position_embeddings=77, vocab_size=49408,
                         bos_token_id=49406, eos_token_id=49407, pad_token_id=0),
        vision_config=dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                           intermediate_size=256, image_size=IMAGE_SIZE, patch_size=8),
        projection_dim=64,
    )


def make_data(n: int, seed: int) -> tuple[list[Scene], np.ndarray]:
    rng = random.Random(seed)
    prep = Preprocessing(size=IMAGE_SIZE)
    scenes, pixels = [], np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    i = 0
    while i < n:
        scene = random_scene(rng)
        if (scene.colour, scene.shape) in HELD_OUT:
            continue
        img = render(scene, size=rng.randint(64, 192), rng=rng)
        pixels[i] = prep.pixels(img)
        scenes.append(scene)
        i += 1
    return scenes, pixels


def caption_spec(scene: Scene, keys: tuple[str, ...]) -> dict[str, object]:
    spec: dict[str, object] = {k: getattr(scene, k) for k in keys}
    if "count" in spec and scene.count == 1:
        spec.pop("count")  # "a red circle" says nothing certain about the count
    return spec


def batch_indices(by_colour: dict[str, list[int]], rng: random.Random) -> list[int]:
    """4 colours x 16 pictures: colour alone cannot tell a batch apart, so shape must be learnt."""
    out: list[int] = []
    for colour in rng.sample(list(by_colour), 4):
        out += rng.sample(by_colour[colour], 16)
    return out


def evaluate(model: CLIPModel, tok: TextTokenizer) -> dict[str, float]:
    """R@1 / R@5 of full captions over a 200-picture gallery, held-out pairs included."""
    scenes, pixels = make_data(200, seed=999)
    with torch.no_grad():
        img = model.get_image_features(pixel_values=torch.from_numpy(pixels)).pooler_output
        ids = torch.from_numpy(tok.batch([s.caption() for s in scenes]))
        txt = model.get_text_features(input_ids=ids).pooler_output
    img = torch.nn.functional.normalize(img, dim=-1)
    txt = torch.nn.functional.normalize(txt, dim=-1)
    sims = txt @ img.T
    ranks = []
    for i, s in enumerate(scenes):
        order = torch.argsort(sims[i], descending=True).tolist()
        ranks.append(next(r for r, j in enumerate(order) if scenes[j].caption() == s.caption()))
    ranks_a = np.array(ranks)
    return {"R@1": float((ranks_a < 1).mean()), "R@5": float((ranks_a < 5).mean())}


def train(steps: int, seed: int, n_images: int) -> tuple[CLIPModel, TextTokenizer]:
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    tok = TextTokenizer(Path(__file__).resolve().parents[1] / "src/picfind/models/bundles/clip-tokenizer.json")
    t0 = time.time()
    scenes, pixels = make_data(n_images, seed)
    print(f"generated {n_images} pictures in {time.time() - t0:.0f} s", flush=True)
    by_colour: dict[str, list[int]] = {c: [] for c in COLOURS}
    for i, s in enumerate(scenes):
        by_colour[s.colour].append(i)
    model = CLIPModel(tiny_config())
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        plain = p.ndim < 2 or "embedding" in name or "norm" in name
        (no_decay if plain else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.98))
    warmup = 40
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup))))
    rng = random.Random(seed + 1)
    weights = [w for _, w in CAPTION_KEYS]
    t0 = time.time()
    for step in range(steps):
        idx = batch_indices(by_colour, rng)
        batch_scenes = [scenes[i] for i in idx]
        keys = [rng.choices(CAPTION_KEYS, weights)[0][0] for _ in batch_scenes]
        captions = [s.caption(k) for s, k in zip(batch_scenes, keys)]
        specs = [caption_spec(s, k) for s, k in zip(batch_scenes, keys)]
        positives = torch.tensor([[s.matches(spec) for s in batch_scenes] for spec in specs],
                                 dtype=torch.float32)  # [text, image]
        ids = torch.from_numpy(tok.batch(captions))
        out = model(input_ids=ids, pixel_values=torch.from_numpy(pixels[idx]))
        logits = out.logits_per_text  # [text, image], already scaled
        log_t2i = logits.log_softmax(dim=1)
        log_i2t = logits.T.log_softmax(dim=1)
        loss_t2i = -(log_t2i * positives).sum(1) / positives.sum(1)
        loss_i2t = -(log_i2t * positives.T).sum(1) / positives.T.sum(1)
        loss = (loss_t2i.mean() + loss_i2t.mean()) / 2
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 100 == 0 or step == steps - 1:
            el = time.time() - t0
            print(f"step {step} loss {loss.item():.3f} scale {model.logit_scale.exp().item():.1f} "
                  f"{el:.0f}s", flush=True)
        if step % 1000 == 999:
            print("eval", evaluate(model.eval(), tok), flush=True)
            model.train()
    model.eval()
    print("final eval", evaluate(model, tok), flush=True)
    return model, tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-weights", type=Path, help="also keep the PyTorch weights here")
    ap.add_argument("--from-weights", type=Path, help="skip training: export these weights")
    args = ap.parse_args()
    if args.from_weights:
        model = CLIPModel.from_pretrained(args.from_weights).eval()
    else:
        model, _ = train(args.steps, args.seed, args.images)
    if args.save_weights:
        model.save_pretrained(args.save_weights)
    from convert_clip import export_bundle

    export_bundle(model, args.out, name="tiny-shapes", image_size=IMAGE_SIZE,
                  description="TEST MODEL: a tiny CLIP trained only on generated coloured "
                              "shapes; it understands colours, shapes, counts and backgrounds, "
                              "nothing else.",
                  licence="MIT", source="scripts/train_tiny_shapes.py")


if __name__ == "__main__":
    main()
