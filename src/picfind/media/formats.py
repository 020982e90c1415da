"""The file types picfind reads, and how a user's extension list is read."""

from __future__ import annotations

# What picfind reads by default (media/decode.py decodes them all).
IMAGE_EXTENSIONS = ("jpg", "jpeg", "jpe", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif")
# Videos (media/video.py samples frames of them with PyAV).
VIDEO_EXTENSIONS = ("mp4", "mov", "m4v", "mkv", "webm", "avi", "3gp", "mts", "m2ts", "wmv")
EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS


def is_video(path: str) -> bool:
    """Whether a file is read as a video (by its name, as the walk chose it)."""
    return path.rsplit(".", 1)[-1].lower() in VIDEO_EXTENSIONS


def normalise_extensions(exts: list[str] | str | None, default: tuple[str, ...]) -> list[str]:
    if exts is None:
        return list(default)
    items = exts.split(",") if isinstance(exts, str) else exts
    out = sorted({e.strip().lower().lstrip(".") for e in items if e.strip()})
    if not out:
        raise ValueError("--ext needs at least one extension, e.g. --ext jpg,png")
    return out
