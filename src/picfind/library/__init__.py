"""The library API under the CLI: a catalog plus a model.

    from picfind import Library
    lib = Library("photos.db", model="tiny-shapes")
    lib.index(["~/Pictures"])
    for hit in lib.search("a dog asleep on a red sofa", n=10):
        print(hit.score, hit.path)

One door, several rooms: `base` opens the catalog and the model, `indexing` fills the catalog
(index, watch, roots), `files` hands out what was indexed (files, thumbnails, status), `searching`
turns queries and examples (pictures, video moments) into hits, and `models` installs models.
"""

from __future__ import annotations

from picfind.library.base import ANN_BACKENDS, Thumbnails, check_models, default_db, not_there
from picfind.library.examples import Example, decode_example
from picfind.library.files import picture_type, rendition
from picfind.library.indexing import IndexingDoors, folders
from picfind.library.searching import SearchDoors

__all__ = ["ANN_BACKENDS", "Example", "Library", "Thumbnails", "check_models", "decode_example", "default_db",
           "folders", "not_there", "picture_type", "rendition"]


class Library(IndexingDoors, SearchDoors):
    """A catalog (SQLite file or PostgreSQL URL) plus a model: index, watch, search, serve files."""
