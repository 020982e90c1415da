"""Videos for the page's <video> element: byte ranges (206, `Accept-Ranges`), so the browser seeks
to a moment without fetching the whole file, and only content types a browser plays, never runs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import BinaryIO

from starlette.responses import Response, StreamingResponse

# What the page may call each video (H.264 MOVs play as MP4); anything else is bytes to download.
VIDEO_TYPES = {"mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/mp4", "webm": "video/webm",
               "mkv": "video/x-matroska", "3gp": "video/3gpp", "avi": "video/x-msvideo", "wmv": "video/x-ms-wmv",
               "mts": "video/mp2t", "m2ts": "video/mp2t"}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CHUNK = 1 << 16


def video_type(path: str) -> str:
    return VIDEO_TYPES.get(path.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def ranged(f: BinaryIO, media_type: str, header: str | None) -> Response:
    """The open file as a response: the range asked for (206), the whole file (200), or 416."""
    size = os.fstat(f.fileno()).st_size
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    span = _span(header, size) if header else (0, size - 1)
    if span is None:
        f.close()
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = span
    status = 206 if header else 200
    if header:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(_part(f, start, end - start + 1), status_code=status, media_type=media_type,
                             headers=headers)


def _span(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of one `Range: bytes=a-b` within the file; None when unsatisfiable.
    Several ranges in one header are answered with the first (browsers ask for one)."""
    m = _RANGE.match(header.split(",")[0].strip())
    if not m or not (m.group(1) or m.group(2)) or size == 0:
        return None
    if not m.group(1):  # the last N bytes
        n = int(m.group(2))
        return (max(0, size - n), size - 1) if n else None
    start = int(m.group(1))
    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    return (start, end) if start <= end and start < size else None


def _part(f: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    """`length` bytes from `start`, in pieces; the file closed at the end (read on a thread)."""
    with f:
        f.seek(start)
        while length > 0 and (chunk := f.read(min(CHUNK, length))):
            length -= len(chunk)
            yield chunk
