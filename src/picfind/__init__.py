"""picfind: find your photos by describing them, offline, with CLIP."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from picfind.library import Library
    from picfind.search.ranking import Hit

__all__ = ["Hit", "Library"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`Library` and `Hit` on first use: `python -m picfind` need not import the whole library
    before it knows the command."""
    if name == "Library":
        from picfind.library import Library

        return Library
    if name == "Hit":
        from picfind.search.ranking import Hit

        return Hit
    raise AttributeError(f"module 'picfind' has no attribute {name!r}")
