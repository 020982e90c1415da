"""Text to token ids exactly as each model family's reference pipeline makes them.

Hugging Face `tokenizers` runs either picfind's built-in CLIP BPE (start and end tokens added
here, the end token kept when a long text is cut, as OpenAI's `clip.tokenize(truncate=True)`)
or a bundle's own `tokenizer.json` (SigLIP's SentencePiece, SigLIP 2's Gemma vocabulary), whose
post-processor adds the special tokens the model was trained with. The text is cleaned first
as the reference does, since `tokenizers` alone skips it: ftfy, HTML unescape, whitespace and
lower case for CLIP; the same plus punctuation removed for SigLIP ("canonicalize", big_vision's
and OpenCLIP's recipe).
"""

from __future__ import annotations

import html
import re
import string
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from picfind.models.bundle import TokenizerSpec
from picfind.models.constants import BUILTIN_TOKENIZER

_WHITESPACE = re.compile(r"\s+")
_FLORES_CODE = re.compile(r"[a-z]{3}_[A-Z][a-z]{3}")  # a FLORES-200 language token: "rus_Cyrl"
_PUNCTUATION = str.maketrans("", "", string.punctuation)
# Printable ASCII without "&": ftfy leaves it as it is (everything it repairs needs another
# character: mojibake, HTML entities, control and terminal codes, wide or curly forms), so most
# queries skip importing ftfy, a tenth of a second of a fresh `picfind search`.
_PLAIN = re.compile(r"[ -%'-~]*")


def clean(text: str, mode: str = "clip") -> str:
    """The text as the model's reference pipeline cleans it: `clip`, `canonicalize` (SigLIP),
    `whitespace` (open_clip's HFTokenizer: case kept, as NLLB-CLIP) or `none` (Multilingual-CLIP)."""
    if mode == "none":
        return text
    if not _PLAIN.fullmatch(text):
        import ftfy

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    if mode == "canonicalize":
        text = text.replace("_", " ").translate(_PUNCTUATION).lower()
        return " ".join(text.split())
    if mode == "whitespace":
        return " ".join(text.split())
    return _WHITESPACE.sub(" ", text).strip().lower()


class TextTokenizer:
    def __init__(self, path: Path, spec: TokenizerSpec | None = None) -> None:
        self.spec = spec or TokenizerSpec()
        self.context_length = self.spec.context_length
        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._builtin = self.spec.file == BUILTIN_TOKENIZER
        self._start = self._end = None
        if self._builtin:
            self._tok.no_truncation()
            self._start = self._token_id("<|startoftext|>", path)
            self._end = self._token_id("<|endoftext|>", path)
        elif self.spec.end_token is not None:
            self._tok.no_truncation()
            self._end = self._token_id(self.spec.end_token, path)
            if self.spec.language_token is not None:
                self._start = self._token_id(self.spec.language_token, path)
        else:
            self._tok.enable_truncation(max_length=self.context_length)

    def _token_id(self, token: str, path: Path) -> int:
        found = self._tok.token_to_id(token)
        if found is None:
            raise ValueError(f"{path}: the tokenizer has no token {token!r}")
        return found

    def ids(self, text: str, language: str | None = None) -> list[int]:
        """Token ids with the model's special tokens, cut to the context length. `language`: the
        query's FLORES-200 code, for a tokenizer whose texts start with one (NLLB); unknown codes
        fall back to the bundle's own."""
        text = clean(text, self.spec.clean)
        if self._end is None:  # the tokenizer.json's post-processor and truncation do it all
            return self._tok.encode(text).ids
        body = self._tok.encode(text, add_special_tokens=False).ids
        start = self._start
        if language and self.spec.language_token is not None:
            start = self._tok.token_to_id(language) if _FLORES_CODE.fullmatch(language) else None
            start = self._start if start is None else start
        if start is None:
            return [*body[: self.context_length - 1], self._end]
        return [start, *body[: self.context_length - 2], self._end]

    def batch(self, texts: list[str], pad_to: int | None = None, pad_id: int | None = None,
              language: str | None = None) -> np.ndarray:
        """int64 [N, L]: L is `pad_to`, else the bundle's fixed length, else the longest text."""
        return self.encode(texts, pad_to, pad_id, language)[0]

    def encode(self, texts: list[str], pad_to: int | None = None, pad_id: int | None = None,
               language: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids and attention mask (1 = a real token), both int64 [N, L], padded as in `batch`."""
        rows = [self.ids(t, language) for t in texts]
        width = pad_to or self.spec.pad_to or max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.spec.pad_id if pad_id is None else pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask
