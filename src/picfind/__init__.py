"""picfind: find your photos by describing them, offline, with CLIP."""

from .library import Library
from .search import Hit

__all__ = ["Hit", "Library"]
__version__ = "0.1.0"
