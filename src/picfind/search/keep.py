"""Which copy to keep: the one a person would. Among files that hold the same picture (or nearly),
the one outside a trash or hidden folder, under its original name (not `IMG_1 (1).jpg`,
`IMG_1 copy.jpg`, `IMG_1 Kopie.jpg`, `IMG_1 - コピー.jpg`, `IMG_1-1.jpg` beside an `IMG_1.jpg`),
with the most pixels, then the most bytes, then the oldest; the first by path breaks a tie. The
order the files were indexed in says nothing (a phone's `.trashed-…` copy is often met first)."""

from __future__ import annotations

import os
import re
import unicodedata

# "Copy" as file managers write it: English, German, Dutch, French, Spanish, Italian, Portuguese,
# Polish, Swedish, Finnish, Russian; Japanese, Chinese, Korean (written with or without a space)
_WORD = r"(copy|kopie|copie|copia|cópia|kopia|kopio|копия)"
_CJK = r"(の?コピー|副本|복사본)"
# ... and "Copy of ", "Kopie von ", "Copie de ", "Copia de ", "Cópia de " before the name
_OF = r"(copy of|kopie von|copie de|copia de|cópia de)"
# A copy by its name alone: " (1)", "(2)", " copy", " - Copy", "_copy", "copy 3", " Kopie", " - コピー"
_COPY = re.compile(rf"(\s*\(\d+\)|[\s_-]+(-\s*)?{_WORD}(\s*\d+)?|\s*(-\s*)?{_CJK}(\s*\d+)?|^{_OF}\s.*)$",
                   re.IGNORECASE)
# A copy when the name without it is another file's: IMG_1-1, IMG_1_2, IMG_1 2, IMG_1~1
_NUMBERED = re.compile(r"[\s_~-]\d{1,3}$")
_TRASH = re.compile(r"^(\.trashed-.*|\.trash(es|-\d+)?|trash|\$recycle\.bin|#recycle|\.recycle|"
                    r"recycle bin|\.dtrash|\.stversions)$", re.IGNORECASE)

# Why the copy kept is kept, the first that tells it from the next: each reads after "kept because"
REASONS = ("it is not in a trash or hidden folder", "it has the original name and the others are named as copies",
           "it has the most pixels", "it is the largest file", "it is the oldest file", "it comes first by path")


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _set_aside(path: str) -> bool:
    """In a trash, a sync tool's old versions, or a hidden file or folder (only the last few
    levels: a whole library under a hidden folder is no reason to prefer one copy)."""
    parts = path.replace("\\", "/").split("/")[-4:]
    return any(_TRASH.match(p) or (p.startswith(".") and p not in (".", "..")) for p in parts)


def _copy_name(stem: str, stems: set[str]) -> bool:
    if _COPY.search(unicodedata.normalize("NFC", stem)):  # a Mac writes names decomposed
        return True
    bare = _NUMBERED.sub("", stem)
    return bare != stem and bare in stems


def keep_key(f: dict, stems: set[str]) -> tuple:
    """The sort key of a file (a `files_for_hashes` row): smaller is better to keep."""
    pixels = (f.get("width") or 0) * (f.get("height") or 0)
    return (_set_aside(f["path"]), _copy_name(_stem(f["path"]), stems), -pixels, -(f.get("size") or 0),
            f.get("mtime") or 0.0, f["path"])


def ranked(files: list[dict], stems: set[str] | None = None) -> list[dict]:
    """These files, the one to keep first. `stems`: every name in the group (default: these)."""
    stems = stems if stems is not None else {_stem(f["path"]) for f in files}
    return sorted(files, key=lambda f: keep_key(f, stems))


def reason(keep: dict, runner_up: dict, stems: set[str]) -> str:
    """Why `keep` came before `runner_up`: the first thing that told them apart."""
    for why, a, b in zip(REASONS, keep_key(keep, stems), keep_key(runner_up, stems)):
        if a != b:
            return why
    return REASONS[-1]


def stems_of(files: list[dict]) -> set[str]:
    return {_stem(f["path"]) for f in files}
