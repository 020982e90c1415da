"""Small tokenizer.json files of the kinds SigLIP models ship, trained here on captions.

SigLIP 2 uses Gemma's vocabulary: a SentencePiece BPE with byte fallback, spaces turned into
"▁" by the normaliser, no pre-tokeniser, and special tokens <pad>=0, <eos>=1, <bos>=2, <unk>=3.
SigLIP 1 uses a T5-style SentencePiece Unigram with a Metaspace pre-tokeniser and </s>.
The tokenisation tests and the speed benchmark build these instead of downloading the real
256k/32k vocabularies; the code paths (`tokenizers` models, normalisers, post-processors,
truncation and padding) are the same.

    python scripts/make_sentencepiece_tokenizers.py OUT_DIR
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

WORDS = ("a photo of the dog cat red blue green sunset beach city night mountain children running "
         "two three on in under with and black white background circle square triangle snow tree "
         "river boat car street market food coffee cup table flower garden old man woman").split()


def corpus(n: int = 2000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) for _ in range(n)]


def gemma_like(path: Path, vocab_size: int = 600) -> Path:
    """A Gemma-style BPE (byte fallback) whose post-processor appends <eos>, as SigLIP 2's."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = normalizers.Replace(" ", "▁")
    trainer_tok.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                                   show_progress=False))
    trained = json.loads(trainer_tok.to_str())["model"]
    vocab = {t: i for i, t in enumerate(specials)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for token in sorted(trained["vocab"], key=trained["vocab"].get):
        vocab.setdefault(token, len(vocab))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(single="$A <eos>", special_tokens=[("<eos>", 1)])
    tok.save(str(path))
    return path


def t5_like(path: Path, vocab_size: int = 300) -> Path:
    """A T5-style SentencePiece Unigram whose post-processor appends </s>, as SigLIP 1's."""
    specials = ["<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("  ", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁")
    tok.decoder = decoders.Metaspace(replacement="▁")
    tok.train_from_iterator(corpus(), trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                              unk_token="<unk>", show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tok.save(str(path))
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    print(gemma_like(out / "gemma-like.json"), t5_like(out / "t5-like.json"))
