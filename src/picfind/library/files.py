"""The library's file doors, for the web page and the contact sheet: only what was indexed, as it
was indexed (files, thumbnails), and what the catalog holds (status, skipped files)."""

from __future__ import annotations

import os
from typing import BinaryIO

from picfind.library.people import PeopleDoors
from picfind.media.safefile import MAX_FILE_BYTES, Indexed
from picfind.models import store as models
from picfind.ocr.reader import MODELS as OCR_MODELS
from picfind.search.moments import LIVE_MOTION, frame_at, open_motion
from picfind.search.textsearch import ocr_setting


def picture_type(f: BinaryIO) -> str | None:
    """The MIME type of an open picture file by its first bytes (never its name), None for the
    formats no browser reads (TIFF, camera RAW); the file is left at its start."""
    from picfind.media import rendition as renditions  # Pillow and the decoders: only when asked

    head = f.read(renditions.HEAD)
    f.seek(0)
    return renditions.picture_type(head)


def rendition(f: BinaryIO) -> bytes:
    """An open picture file as a JPEG any browser shows (`media.rendition.render`, within the
    indexer's default pixel cap), and the file closed. Touches no catalog, so a
    server runs it on its decoding threads. ValueError, saying why, when it does not decode."""
    from picfind.media.decode import DEFAULT_MAX_PIXELS, SkipFile
    from picfind.media.rendition import render

    with f:
        data = f.read(MAX_FILE_BYTES + 1)
    try:
        return render(data, DEFAULT_MAX_PIXELS)
    except SkipFile as e:
        raise ValueError(f"cannot show this picture: {e.reason} ({e})") from None


class FileDoors(PeopleDoors):
    def file(self, file_id: int) -> dict | None:
        """An indexed picture's catalog entry (path, content hash, size, mtime_ns), or None."""
        return self.catalog.file_by_id(file_id)

    def indexed_image(self, file_id: int) -> Indexed | None:
        """What the catalog says of an indexed picture, to open it while it is still that file
        (`Indexed.open`: a regular file reached inside a root, its size and time, else content,
        as indexed). None for a video: its bytes are never served as an image."""
        return self._indexed(file_id, video=False)

    def indexed_video(self, file_id: int) -> Indexed | None:
        """What the catalog says of an indexed video, under the rules of `indexed_image`."""
        return self._indexed(file_id, video=True)

    def _indexed(self, file_id: int, video: bool) -> Indexed | None:
        """A file whose time changed is hashed as a stream (never read whole into memory), and
        once per change (`media.safefile`)."""
        from picfind.indexing.videos import MAX_VIDEO_BYTES, stream_hash

        found = self.catalog.file_by_id(file_id)
        if found is None or (found.get("duration") is not None) != video:
            return None
        return Indexed(found["path"], tuple(r.path for r in self.catalog.roots()), found["size"], found["mtime_ns"],
                       found["content_hash"], str, MAX_VIDEO_BYTES if video else MAX_FILE_BYTES, stream_hash)

    def open_image(self, file_id: int) -> BinaryIO | None:
        """An indexed picture's file, opened, while it is still that file (`indexed_image`)."""
        indexed = self.indexed_image(file_id)
        return indexed.open() if indexed is not None else None

    def open_video(self, file_id: int) -> BinaryIO | None:
        """An indexed video's file, opened, while it is still that file (`indexed_video`)."""
        indexed = self.indexed_video(file_id)
        return indexed.open() if indexed is not None else None

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
        from picfind.media.video import supported  # PyAV, and Pillow: only when asked

        try:
            model = self.model
        except models.ModelError:  # status still answers when the model is not installed
            model = self.model_choice or os.environ.get("PICFIND_MODEL") or models.DEFAULT_MODEL
        stats = self.catalog.stats(model)
        by_reason = dict(stats["skipped_by_reason"])
        motions = by_reason.pop(LIVE_MOTION, 0)  # part of their stills' results, not skipped
        stats.update(skipped=stats["skipped"] - motions, skipped_by_reason=by_reason, live_photo_motions=motions)
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
            "video_support": supported(),  # False: PyAV (the `video` extra) is missing, videos are skipped
        }

    def _ocr_status(self) -> dict:
        setting = ocr_setting(self.catalog)
        read, with_text = self.catalog.count_texts(setting) if setting in OCR_MODELS else (0, 0)
        return {"setting": setting, "pictures_read": read, "with_text": with_text}

    def skipped_files(self) -> list[dict]:
        """The files left out, and why (a Live Photo's motion is not one: its still shows it)."""
        return [f for f in self.catalog.skipped_files() if f["reason"] != LIVE_MOTION]
