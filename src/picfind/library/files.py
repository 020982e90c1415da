"""The library's file doors, for the web page and the contact sheet: only what was indexed, as it
was indexed (files, thumbnails), and what the catalog holds (status, skipped files)."""

from __future__ import annotations

import os
from typing import BinaryIO

from picfind.library.people import PeopleDoors
from picfind.media.safefile import MAX_FILE_BYTES, open_indexed
from picfind.models import store as models
from picfind.ocr.reader import MODELS as OCR_MODELS
from picfind.search.moments import frame_at, open_motion
from picfind.search.textsearch import ocr_setting


class FileDoors(PeopleDoors):
    def file(self, file_id: int) -> dict | None:
        """An indexed picture's catalog entry (path, content hash, size, mtime_ns), or None."""
        return self.catalog.file_by_id(file_id)

    def open_image(self, file_id: int) -> BinaryIO | None:
        """An indexed picture's file, opened, only while it is a regular file whose real path is
        inside a root and whose size and time (else content) still match the catalog."""
        from picfind.indexing.stages import content_hash

        found = self.catalog.file_by_id(file_id)
        if found is None:
            return None
        return open_indexed(found["path"], [r.path for r in self.catalog.roots()], found["size"],
                            found["mtime_ns"], found["content_hash"], content_hash, MAX_FILE_BYTES)

    def open_video(self, file_id: int) -> BinaryIO | None:
        """An indexed video's file, opened, under the rules of `open_image` (a video whose time
        changed is hashed as a stream, never read whole)."""
        from picfind.indexing.videos import MAX_VIDEO_BYTES, stream_hash

        found = self.catalog.file_by_id(file_id)
        if found is None or found.get("duration") is None:
            return None
        return open_indexed(found["path"], [r.path for r in self.catalog.roots()], found["size"],
                            found["mtime_ns"], found["content_hash"], str, MAX_VIDEO_BYTES, stream_hash)

    def open_motion(self, file_id: int) -> tuple[BinaryIO, str] | None:
        """A Live Photo's motion, opened, and its path (`picfind.search.moments.open_motion`)."""
        return open_motion(self.catalog, file_id)

    def thumbnail(self, file_id: int, at: float | None = None) -> bytes | None:
        """An indexed picture's thumbnail (JPEG bytes), made (or remade, when broken) now if need be;
        a video's: the frame kept for the moment at `at` seconds (else its opening), as indexed."""
        found = self.catalog.file_by_id(file_id)
        if found is None:
            return None
        if found.get("duration") is not None:  # a video: a kept frame's, never made from its bytes
            keys = self.catalog.frame_keys(self.model, found["content_hash"]) if at is not None else []
            return self.thumbnails.jpeg(frame_at(keys, at or 0.0) or found["content_hash"], lambda: None)

        def source() -> bytes | None:
            f = self.open_image(file_id)
            if f is None:
                return None
            with f:
                return f.read()
        return self.thumbnails.jpeg(found["content_hash"], source)

    def status(self) -> dict:
        try:
            model = self.model
        except models.ModelError:  # status still answers when the model is not installed
            model = self.model_choice or os.environ.get("PICFIND_MODEL") or models.DEFAULT_MODEL
        stats = self.catalog.stats(model)
        return {
            "catalog": self.catalog.location,
            "catalog_bytes": self.catalog.size_bytes(),
            "thumbnails": self.thumbnails.location,
            "thumbnails_bytes": self.thumbnails.size_bytes(),
            "model": model,
            "text_model": self.text_model_choice,  # a paired text encoder reads queries (None: the model's own)
            "roots": [{"path": r.path, "extensions": r.extensions, "excludes": r.excludes}
                      for r in self.catalog.roots()],
            **stats,
            "ocr": self._ocr_status(),
            "faces": self.faces_status(),
            "vector_index": self.catalog.index_status(model),
        }

    def _ocr_status(self) -> dict:
        setting = ocr_setting(self.catalog)
        read, with_text = self.catalog.count_texts(setting) if setting in OCR_MODELS else (0, 0)
        return {"setting": setting, "pictures_read": read, "with_text": with_text}

    def skipped_files(self) -> list[dict]:
        return self.catalog.skipped_files()
