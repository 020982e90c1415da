"""Sending indexed files: byte ranges for the page's <video> element (206, `Accept-Ranges`), so
the browser seeks to a moment without fetching the whole file, only content types a browser
plays or shows, never runs, and exactly the bytes announced.

`FileSpan` sends `length` bytes of an open file and closes it whatever happens: the client goes
(its disconnect is watched), stops reading (each send must complete within `SEND_SECONDS`), or
the file shrinks while it is sent (one log line, and the connection is cut: never a byte more or
fewer than `Content-Length` said)."""

from __future__ import annotations

import logging
import os
import re
from typing import BinaryIO

import anyio
from starlette.responses import Response

from picfind.errors import terminal
from picfind.records import printable

# What the page may call each video (H.264 MOVs play as MP4); anything else is bytes to download.
VIDEO_TYPES = {"mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/mp4", "webm": "video/webm",
               "mkv": "video/x-matroska", "3gp": "video/3gpp", "avi": "video/x-msvideo", "wmv": "video/x-ms-wmv",
               "mts": "video/mp2t", "m2ts": "video/mp2t"}
# The picture formats every current browser shows; the others (HEIC, JPEG XL) only where the
# request's Accept header names them (Safari: HEIC and JPEG XL; Chromium from 145: JPEG XL)
SHOWN = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/avif")
_RANGE = re.compile(r"([0-9]*)-([0-9]*)")  # RFC 9110 14.1.1: ASCII digits only
_DIGITS = 19  # a position longer than this is past any file (and never reaches int())
CHUNK = 1 << 16
SEND_SECONDS = 30.0  # a client that takes longer to accept one chunk has stalled: its connection is closed
log = logging.getLogger("picfind.web")


def video_type(path: str) -> str:
    return VIDEO_TYPES.get(path.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def shows(kind: str, accept: str) -> bool:
    """Whether a browser shows a picture of this type (`picfind.library.picture_type`) as it is:
    one every browser shows, or one its Accept header names (`image/*` promises nothing)."""
    return kind in SHOWN or kind in {t.split(";")[0].strip() for t in accept.split(",")}


def ranged(f: BinaryIO, media_type: str, header: str | None, name: str = "") -> Response:
    """The open file as a response: the range asked for (206), the whole file (200: also for a
    Range header that is not a byte range, which RFC 9110 says to ignore), or 416."""
    size = os.fstat(f.fileno()).st_size
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    span = _span(header, size) if header else None
    if span == "ignore" or span is None:
        return FileSpan(f, 0, size, media_type, headers, name=name)
    if span == "unsatisfiable":
        f.close()
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return FileSpan(f, start, end - start + 1, media_type, headers, status_code=206, name=name)


def _span(header: str, size: int) -> tuple[int, int] | str:
    """(first, last) byte of `Range: bytes=a-b` within the file; "unsatisfiable" (416); or
    "ignore" for a header that is not a valid byte range (RFC 9110 14.2: another unit, a space
    after `=`, anything after the digits, a last byte before the first): answered with the whole
    file. Of several ranges the first is answered (browsers ask for one)."""
    unit, eq, rest = header.partition("=")
    if unit.strip(" \t").lower() != "bytes" or not eq or rest[:1] in (" ", "\t"):
        return "ignore"
    specs = [s.strip(" \t") for s in rest.split(",")]
    parsed = [_RANGE.fullmatch(s) for s in specs if s]
    if not parsed or not all(m and (m.group(1) or m.group(2)) for m in parsed):
        return "ignore"
    first, last = _number(parsed[0].group(1)), _number(parsed[0].group(2))  # type: ignore[union-attr]
    if first is not None and last is not None and last < first:
        return "ignore"
    if first is None:  # the last N bytes
        return (max(0, size - last), size - 1) if last and size else "unsatisfiable"  # type: ignore[operator]
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1) if last is not None else size - 1


def _number(digits: str) -> int | None:
    """A position in a Range header; one of more digits than any file has bytes is read as
    "past the end" (a 5,000-digit number never reaches int(), whose refusal is Python's words)."""
    if not digits:
        return None
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _DIGITS else 1 << 64


class FileSpan(Response):
    """`length` bytes of an open file from `start`, announced as Content-Length and sent exactly."""

    def __init__(self, f: BinaryIO, start: int, length: int, media_type: str, headers: dict[str, str],
                 status_code: int = 200, name: str = "") -> None:
        super().__init__(None, status_code, {**headers, "Content-Length": str(length)}, media_type)
        self.f, self.start, self.length, self.name = f, start, length, name

    async def __call__(self, scope, receive, send) -> None:
        try:
            async with anyio.create_task_group() as tasks:
                async def gone() -> None:  # the client left: stop sending, close the file now
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tasks.cancel_scope.cancel()
                tasks.start_soon(gone)
                await self._send(send, scope.get("method") == "HEAD")
                tasks.cancel_scope.cancel()
        finally:
            self.f.close()

    async def _send(self, send, head: bool) -> None:
        with anyio.fail_after(SEND_SECONDS):
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        await anyio.to_thread.run_sync(self.f.seek, self.start)
        left = self.length
        while left > 0:
            chunk = await anyio.to_thread.run_sync(self.f.read, min(CHUNK, left))
            if not chunk:  # the file shrank meanwhile: cut the connection rather than send other bytes
                log.warning("picfind: %s changed while it was sent; the response was cut short",
                            terminal(str(printable(self.name or "a file"))))
                return
            left -= len(chunk)
            try:
                with anyio.fail_after(SEND_SECONDS):
                    await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
            except TimeoutError:
                return  # the client stopped reading: its connection is closed, the file too

