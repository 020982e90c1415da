"""Our tokenizer gives exactly the ids of OpenAI's reference CLIP tokenizer."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from picfind.models.constants import BUILTIN_TOKENIZER_PATH
from picfind.models.tokenizer import TextTokenizer


def reference_tokenizer():
    """OpenAI's simple_tokenizer.py from the openai-clip package, loaded without its torch parts."""
    spec = importlib.util.find_spec("clip")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("openai-clip (reference tokenizer) is not installed: run `make test`")
    folder = Path(next(iter(spec.submodule_search_locations)))
    mod_spec = importlib.util.spec_from_file_location("clip_reference_tokenizer", folder / "simple_tokenizer.py")
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.SimpleTokenizer(str(folder / "bpe_simple_vocab_16e6.txt.gz"))


def reference_ids(ref, text: str, context: int = 77) -> list[int]:
    sot, eot = ref.encoder["<|startoftext|>"], ref.encoder["<|endoftext|>"]
    ids = [sot, *ref.encode(text), eot]
    if len(ids) > context:  # clip.tokenize(truncate=True)
        ids = ids[:context]
        ids[-1] = eot
    return ids


def varied_strings(n: int = 1200) -> list[str]:
    rng = random.Random(42)
    fixed = [
        "", " ", "a dog asleep on a red sofa", "A Dog ASLEEP on a RED sofa!!!", "don't you're we've I'll",
        "café naïve résumé", "日本語のテキスト", "Привет мир", "emoji 🐶🛋️❤️ and 👨‍👩‍👧",
        "&amp; &lt;b&gt; &quot;hi&quot;",
        "&amp;amp; double escaped", "â€™ mojibake â€œquotesâ€\x9d", "tabs\tand\nnewlines\r\n  spaces",
        "numbers 12345 3.14159 1,000,000", "punctuation ?!.,;:-_()[]{}<>@#$%^&*~`|\\/", "x" * 500,
        "word " * 100, "<|startoftext|> inside <|endoftext|>", "ＦＵＬＬＷＩＤＴＨ", "Ω≈ç√∫˜µ≤≥÷",
        "ﬁ ligature and ß and İ", "zero\u200bwidth", "combining e\u0301 accents",
    ]
    alphabet = ("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,!?'\"-&;:()"
                "éèàüöñç日本語中文한국어русскийالعربية🙂🐱🌅🍕 \t")
    words = ["photo", "of", "a", "the", "red", "dog", "sunset", "beach", "city", "night", "cat's", "children",
             "mountain", "running", "I'm", "it's", "2023", "#holiday", "@home", "e-mail", "U.S.A.", "rock'n'roll"]
    out = list(fixed)
    while len(out) < n:
        if rng.random() < 0.5:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120))))
        else:
            out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 90))))
    return out


def test_ids_match_reference_clip_on_1000_varied_strings() -> None:
    ref = reference_tokenizer()
    ours = TextTokenizer(BUILTIN_TOKENIZER_PATH)
    strings = varied_strings()
    assert len(strings) >= 1000
    mismatches = [s for s in strings if ours.ids(s) != reference_ids(ref, s)]
    assert not mismatches, f"{len(mismatches)} strings differ, e.g. {mismatches[:3]!r}"


def test_long_text_is_cut_to_the_context_length_with_an_end_token() -> None:
    ids = TextTokenizer(BUILTIN_TOKENIZER_PATH).ids("sunset " * 200)
    assert len(ids) == 77
    assert ids[0] == 49406 and ids[-1] == 49407


def test_batch_pads_after_the_end_token() -> None:
    tok = TextTokenizer(BUILTIN_TOKENIZER_PATH)
    batch = tok.batch(["a cat", "a very long description of a cat"], pad_to=77)
    assert batch.shape == (2, 77)
    assert list(batch[0, :4]) == tok.ids("a cat") and batch[0, 4:].sum() == 0
