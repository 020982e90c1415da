"""Constants shared by bundles, preprocessing, the registry and the tokenizer, below all of them."""

from __future__ import annotations

from pathlib import Path

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

BUILTIN_TOKENIZER = "clip-bpe"
BUILTIN_TOKENIZER_PATH = Path(__file__).parent / "bundles" / "clip-tokenizer.json"
