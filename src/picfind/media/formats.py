"""The file types picfind reads, and how a user's extension list is read."""

from __future__ import annotations

# What picfind reads by default (media/decode.py decodes them all).
EXTENSIONS = ("jpg", "jpeg", "jpe", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif")


def normalise_extensions(exts: list[str] | str | None, default: tuple[str, ...]) -> list[str]:
    if exts is None:
        return list(default)
    items = exts.split(",") if isinstance(exts, str) else exts
    out = sorted({e.strip().lower().lstrip(".") for e in items if e.strip()})
    if not out:
        raise ValueError("--ext needs at least one extension, e.g. --ext jpg,png")
    return out
