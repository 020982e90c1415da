"""Combined queries: text and example images, added and subtracted, with weights.

    "beach" + ./ref.jpg - "people"      pictures like ref.jpg, beach-like, without people
    "2:sunset" "city"                   twice as much sunset as city

Each term is embedded and normalised to unit length, multiplied by its weight (negative after a
`-`), and the sum normalised again: the query vector. A term is an image when it names a file;
one that looks like a file (a path, or an image extension) but does not exist is an error,
rather than being searched for as text.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

import numpy as np

from picfind.media.formats import EXTENSIONS, is_video

_WEIGHT = re.compile(r"(\d+(?:\.\d+)?):(?=\D)(.+)", re.S)  # "2:sunset", but not "12:30 lunch"


@dataclass(frozen=True)
class Term:
    weight: float  # negative: subtract
    text: str | None = None
    image: str | None = None  # a file path


def _looks_like_file(text: str) -> bool:
    return (text.startswith(("./", "../", "/", "~/", ".\\", "..\\"))
            or text.lower().rsplit(".", 1)[-1] in EXTENSIONS and "." in text and " " not in text)


def parse(tokens: list[str], files: bool = True) -> list[Term]:
    """Terms from the words a person typed; ValueError says what is wrong. `files=False` (the
    web API): no term names a file, and nothing is looked up on disk, so an answer never tells
    whether some path exists."""
    terms: list[Term] = []
    sign: float | None = None
    for token in tokens:
        if token in ("+", "-"):
            if sign is not None:
                raise ValueError(f"two operators in a row before {token!r}: write A + B - C")
            sign = 1.0 if token == "+" else -1.0
            continue
        weight, body = 1.0, token
        m = _WEIGHT.fullmatch(token)
        if m:
            weight, body = float(m.group(1)), m.group(2)
        if not body.strip():
            continue  # blank words say nothing; a query of nothing else is empty (below)
        weight *= sign if sign is not None else 1.0
        sign = None
        path = os.path.expanduser(body) if files else ""
        base = path.rpartition("@")[0]
        if files and not os.path.exists(path) and is_video(base) and os.path.isfile(base):
            terms.append(Term(weight, image=path))  # a video at a moment: clip.mp4@1:23
            continue
        if not files and _looks_like_file(body):
            raise ValueError(f"{body}: file paths are not taken here; to search by example, drop the image "
                             "on the page or use a picture's id (/api/similar?id=)")
        if files and os.path.exists(path) and not os.path.isdir(path):
            if not os.path.isfile(path):
                raise ValueError(f"{body} is not a regular file (a pipe, device or socket): name an image file")
            terms.append(Term(weight, image=path))
        elif _looks_like_file(body) and files and os.path.isdir(path):
            raise ValueError(f"{body} is a folder: an image term names one picture; to search only under it, "
                             f"use --in {body}")
        elif _looks_like_file(body):
            raise ValueError(f"{body}: no such file (an image term must name an existing file)")
        else:
            terms.append(Term(weight, text=body))
    if sign is not None:
        raise ValueError("the query ends with an operator: write A + B or A - B")
    if not terms:
        raise ValueError('the query is empty: describe the picture, e.g. picfind search "a red car"')
    return terms


def split(line: str) -> list[str]:
    """One typed line (the shell, the web page) as terms, split like a shell command line
    (quotes group words); see `group`."""
    try:
        return group(shlex.split(line))
    except ValueError:  # an unbalanced quote: "a dog's bed"
        return [line]


def group(words: list[str]) -> list[str]:
    """Words as terms: with a standalone + or -, each word is a term; without, they are one
    description."""
    return words if {"+", "-"} & set(words) else [" ".join(words)]


def combine(vectors: list[np.ndarray], weights: list[float]) -> np.ndarray:
    total = sum(w * v / np.linalg.norm(v) for v, w in zip(vectors, weights))
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise ValueError("the terms cancel out: nothing is left to search for")
    return (total / norm).astype(np.float32)
