"""CLIP's BPE tokenizer: Hugging Face `tokenizers` over the bundle's tokenizer.json, with the
text clean-up of OpenAI's reference tokenizer (ftfy, HTML unescape, whitespace, lower case)
done first, since `tokenizers` alone skips it and would give other ids for such text.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

_WHITESPACE = re.compile(r"\s+")
# Printable ASCII without "&": ftfy leaves it as it is (everything it repairs needs another
# character: mojibake, HTML entities, control and terminal codes, wide or curly forms), so most
# queries skip importing ftfy, a tenth of a second of a fresh `picfind search`.
_PLAIN = re.compile(r"[ -%'-~]*")


def clean(text: str) -> str:
    if not _PLAIN.fullmatch(text):
        import ftfy

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return _WHITESPACE.sub(" ", text).strip().lower()


class ClipTokenizer:
    def __init__(self, path: Path, context_length: int = 77) -> None:
        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._tok.no_truncation()
        self.context_length = context_length
        self.start_id = self._tok.token_to_id("<|startoftext|>")
        self.end_id = self._tok.token_to_id("<|endoftext|>")

    def ids(self, text: str) -> list[int]:
        """Token ids with start and end tokens, cut to the context length as reference CLIP does."""
        body = self._tok.encode(clean(text), add_special_tokens=False).ids
        body = body[: self.context_length - 2]
        return [self.start_id, *body, self.end_id]

    def batch(self, texts: list[str], pad_to: int | None = None, pad_id: int = 0) -> np.ndarray:
        """int64 [N, L]: L is the longest text, or `pad_to` for graphs with a fixed length."""
        rows = [self.ids(t) for t in texts]
        width = pad_to or max(len(r) for r in rows)
        out = np.full((len(rows), width), pad_id, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out
