"""Thumbnails, cached on disk by content hash, for contact sheets and the web page.

Written by the indexer from the picture it already decoded (no second read), small JPEGs in a
folder beside the catalog. Copies of one picture share one thumbnail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from picfind.catalogs.sqlite.catalog import Catalog
from picfind.media.decode import SkipFile, decode
from picfind.media.thumbnail import SIZE, encode_thumbnail, is_whole

OWNER = "catalog-id"
SIZE_SAMPLE = 20_000  # thumbnails statted before `size_bytes` estimates the rest



class ThumbnailCache:
    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)

    @classmethod
    def of(cls, catalog: Catalog) -> ThumbnailCache:
        """The cache beside a catalog, emptied when it was made for another catalog at that path
        (one deleted and made again): it carries the catalog's id in a file, `catalog-id`."""
        cache = cls(catalog.path.with_name(catalog.path.name + ".thumbs"))
        mark = cache.folder / OWNER
        try:
            owner = mark.read_text().strip()
        except OSError:
            owner = None
        if owner == catalog.id:
            return cache
        try:
            if owner is not None:  # another catalog's: set aside whole, then delete
                old = cache.folder.with_name(f".{cache.folder.name}.{os.getpid()}.old")
                cache.folder.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            cache.folder.mkdir(parents=True, exist_ok=True)
            mark.write_text(catalog.id + "\n")
        except OSError:
            pass  # a read-only place: thumbnails are made in memory when needed
        return cache

    def path(self, content_hash: str) -> Path:
        return self.folder / content_hash[:2] / f"{content_hash}.jpg"

    def store(self, content_hash: str, jpeg: bytes) -> Path:
        """Store a thumbnail (`encode_thumbnail`); atomic, so a crash never leaves half a file."""
        target = self.path(content_hash)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(jpeg)
            os.replace(tmp, target)
        except OSError as e:  # a full disk, say: name the folder, not a temporary file
            Path(tmp).unlink(missing_ok=True)
            raise OSError(e.errno, e.strerror or str(e), str(target.parent)) from e
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def ensure(self, content_hash: str, source: Callable[[], bytes | None]) -> Path | None:
        """The cached thumbnail's file, made now from the picture's bytes (`source()`, None when
        it cannot be read) when the indexer wrote none or what is there is not a valid image
        (a broken cache file is replaced, never served)."""
        target = self.path(content_hash)
        if _valid(target):
            return target
        data = source()
        if data is None:
            return None
        try:
            target.unlink(missing_ok=True)
            return self.store(content_hash, encode_thumbnail(decode(data, SIZE).image))
        except (SkipFile, OSError):  # not a picture after all, or a read-only cache: no thumbnail
            return None

    def jpeg(self, content_hash: str, source: Callable[[], bytes | None]) -> bytes | None:
        path = self.ensure(content_hash, source)
        try:
            return path.read_bytes() if path else None
        except OSError:
            return None

    def remove(self, content_hashes: list[str]) -> None:
        """Forget pictures no file holds any more."""
        for h in content_hashes:
            self.path(h).unlink(missing_ok=True)

    def size_bytes(self) -> int:
        """Exact up to SIZE_SAMPLE thumbnails; beyond, the sub-folders read so far scaled up:
        hashes spread evenly over the 256 of them, and statting 10M files took `status` minutes."""
        folders = sorted(p for p in self.folder.iterdir() if p.is_dir() and len(p.name) == 2) \
            if self.folder.is_dir() else []
        total, files, read = 0, 0, 0
        while read < len(folders) and files < SIZE_SAMPLE:
            with os.scandir(folders[read]) as entries:
                sizes = [e.stat().st_size for e in entries if e.name.endswith(".jpg")]
            total, files, read = total + sum(sizes), files + len(sizes), read + 1
        return total * len(folders) // read if read else 0


def _valid(path: Path) -> bool:
    """Whether a cached thumbnail is there and decodes whole."""
    try:
        return is_whole(path.read_bytes())
    except OSError:
        return False
