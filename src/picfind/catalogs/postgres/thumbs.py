"""Thumbnails in the PostgreSQL catalog: rows keyed by content hash, so every client sees the same."""

from __future__ import annotations

import threading
from collections.abc import Callable

from picfind.catalogs.postgres.session import PgSession


class PgThumbnails:
    """Thumbnails as rows. The indexer's reader threads `store` them; the next `write_batch` stores
    them in its transaction."""

    location = "in the database (table thumbnails)"

    def __init__(self, catalog: PgSession) -> None:
        self.catalog = catalog
        self.pending: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def store(self, content_hash: str, jpeg: bytes) -> None:
        with self.lock:
            self.pending[content_hash] = jpeg

    def take(self) -> dict[str, bytes]:
        with self.lock:
            pending, self.pending = self.pending, {}
        return pending

    def jpeg(self, content_hash: str, source: Callable[[], bytes | None]) -> bytes | None:
        from picfind.media.decode import SkipFile, decode  # Pillow only when a thumbnail is served
        from picfind.media.thumbnail import SIZE as THUMB_SIZE
        from picfind.media.thumbnail import encode_thumbnail, is_whole

        row = self.catalog._one("SELECT jpeg FROM thumbnails WHERE content_hash = %s", (content_hash,))
        if row and is_whole(bytes(row[0])):
            return bytes(row[0])
        picture = source()
        if picture is None:
            return None
        try:
            data = encode_thumbnail(decode(picture, THUMB_SIZE).image)
        except SkipFile:
            return None
        self.catalog._run("INSERT INTO thumbnails(content_hash, jpeg) VALUES (%s, %s) ON CONFLICT (content_hash) "
                          "DO UPDATE SET jpeg = excluded.jpeg", (content_hash, data))  # a broken one replaced
        return data

    def remove(self, content_hashes: list[str]) -> None:
        if content_hashes:
            self.catalog._run("DELETE FROM thumbnails WHERE content_hash = ANY(%s)", (list(content_hashes),))

    def size_bytes(self) -> int:
        return int(self.catalog._one("SELECT coalesce(sum(length(jpeg)), 0) FROM thumbnails")[0])
