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


# The same captions' words in the languages the multilingual parity tests ask in.
MULTILINGUAL_WORDS = (
    "ein Foto vom Hund Katze rot blau Sonnenuntergang Strand Stadt Nacht Berg Kinder zwei drei auf im unter mit und "
    "schwarz weiß Hintergrund Kreis Schnee Baum Fluss Boot Straße Markt Kaffee Blume Garten alter Mann Frau "
    "фотография собака кошка красный синий закат пляж город ночь гора дети два три на под с и чёрный белый "
    "снег дерево река лодка улица рынок кофе цветок сад старик женщина "
    "一张 狗 猫 红色 蓝色 日落 海滩 城市 夜晚 山 孩子 两 三 在 上 和 黑色 白色 背景 雪 树 河 船 街道 市场 咖啡 花 花园 "
    "犬 猫 赤い 青い 夕日 浜辺 街 夜 山 子供 二 三 の 上 と 黒い 白い 背景 雪 木 川 ボート 通り 市場 コーヒー 花 庭 "
    "कुत्ता बिल्ली लाल नीला सूर्यास्त समुद्र तट शहर रात पहाड़ बच्चे दो तीन पर में और काला सफ़ेद बर्फ पेड़ नदी नाव "
    "كلب قطة أحمر أزرق غروب الشاطئ مدينة ليل جبل أطفال اثنان ثلاثة على في مع و أسود أبيض ثلج شجرة نهر قارب"
).split()


def corpus(n: int = 2000, seed: int = 0, words: tuple[str, ...] | list[str] = WORDS) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(2, 12))) for _ in range(n)]


def _trained_bpe(specials: list[str], vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A SentencePiece-style BPE (spaces as "▁" before each word) over English and multilingual captions."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(corpus(3000, 1, [*WORDS, *MULTILINGUAL_WORDS]),
                            trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False))
    trained = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
    return trained["vocab"], merges


def nllb_like(path: Path, vocab_size: int = 1500) -> Path:
    """NLLB-200's tokenizer as transformers' own NllbTokenizer builds it (the class behind
    facebook/nllb-200-*'s tokenizer.json): <s> <pad> </s> <unk>, a SentencePiece BPE, the 202
    FLORES-200 language tokens and <mask>; its post-processor writes `eng_Latn $A </s>`. Only the
    vocabulary is small and trained here."""
    from transformers import NllbTokenizer

    vocab, merges = _trained_bpe(["<s>", "<pad>", "</s>", "<unk>"], vocab_size)
    NllbTokenizer(vocab=vocab, merges=merges)._tokenizer.save(str(path))
    return path


def xlmr_like(path: Path, vocab_size: int = 1500) -> Path:
    """XLM-RoBERTa's tokenizer as transformers' XLMRobertaTokenizer builds it (a SentencePiece
    Unigram; <s> <pad> </s> <unk> ... <mask>; `<s> $A </s>`), over a small trained vocabulary."""
    from transformers import XLMRobertaTokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁")
    tok.train_from_iterator(corpus(3000, 2, [*WORDS, *MULTILINGUAL_WORDS]),
                            trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>",
                                                    show_progress=False))
    pieces = [tuple(p) for p in json.loads(tok.to_str())["model"]["vocab"]]
    vocab = [(t, 0.0) for t in specials] + [(t, s) for t, s in pieces if t not in specials] + [("<mask>", 0.0)]
    XLMRobertaTokenizer(vocab=vocab)._tokenizer.save(str(path))
    return path


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


def labse_like(path: Path, vocab_size: int = 1500) -> Path:
    """LaBSE's tokenizer (a cased BERT WordPiece: [PAD] [UNK] [CLS] [SEP] [MASK], `[CLS] $A [SEP]`) as
    transformers' BertTokenizer builds it, over a small trained vocabulary."""
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus(3000, 3, [*WORDS, *MULTILINGUAL_WORDS]),
                            trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                      show_progress=False))
    BertTokenizer(vocab=tok.get_vocab(), do_lower_case=False)._tokenizer.save(str(path))
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    print(gemma_like(out / "gemma-like.json"), t5_like(out / "t5-like.json"), nllb_like(out / "nllb-like.json"),
          xlmr_like(out / "xlmr-like.json"), labse_like(out / "labse-like.json"))
