"""The web server's library access and uploads: the library on two worker threads (searches on
one, pictures and lookups on the other), and uploaded example images read against a deadline,
a few at a time, and decoded on threads of their own."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from starlette.requests import Request

from picfind.library import Example, Library, decode_example, picture_type, rendition
from picfind.media.safefile import Indexed
from picfind.web.watching import OFF, Watching

UPLOAD_MAX = 25 * 2**20
UPLOAD_MAX_PIXELS = 25_000_000  # a 99 MP PNG of 12 KB took 1.4 s and 660 MB to decode
UPLOADS_AT_ONCE = 4  # uploads being received or decoded; more get 503, their bodies dropped unread into memory
DECODES_AT_ONCE = 2  # uploads and renditions being decoded
RENDITIONS_AT_ONCE = 4  # renditions being made or waiting to be; more get 503
OPENS_AT_ONCE = 4  # files being opened (and, when touched, hashed) for /image/, /video/ at once
UPLOAD_SECONDS = 60.0  # an upload's whole body must arrive within this...
UPLOAD_IDLE_SECONDS = 10.0  # ...with no pause longer than this (else 408, and the slot is free)
try:  # glibc's malloc_trim: hands freed decode buffers back to the system
    _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
except (OSError, AttributeError):  # not glibc
    _malloc_trim = None


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class _Worker:
    """One thread with its own library (SQLite connections belong to one thread)."""

    def __init__(self, name: str, db: Path | str, model: str | None, text_model: str | None = None) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.db, self.model, self.text_model = db, model, text_model
        self.lib: Library | None = None

    def _run(self, fn):
        if self.lib is None:
            self.lib = Library(self.db, model=self.model, text_model=self.text_model)
        return fn(self.lib)

    async def call(self, fn):
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._run, fn)

    def close(self) -> None:
        if self.lib is not None:
            self.pool.submit(self.lib.close).result()
        self.pool.shutdown()


class Service:
    """The library on two worker threads: searches on one, and on the other what a page needs
    while a search runs (thumbnails, images, a file's entry, status), so a heavy search never
    holds them up; uploads decode on threads of their own."""

    def __init__(self, db: Path | str, model: str | None, text_model: str | None = None) -> None:
        self.searches = _Worker("picfind-web", db, model, text_model)
        self.files = _Worker("picfind-files", db, model)
        self.decoders = ThreadPoolExecutor(DECODES_AT_ONCE, thread_name_prefix="picfind-decode")
        self.openers = ThreadPoolExecutor(OPENS_AT_ONCE, thread_name_prefix="picfind-open")
        self.uploads = 0  # changed on the event loop only
        self.renditions = 0  # likewise
        self.prep = None  # the model's preprocessing, asked of the worker once (it never changes)
        self.watcher: Watching | None = None  # serve --watch

    @property
    def watching(self) -> dict:
        return self.watcher.state if self.watcher is not None else OFF

    async def call(self, fn):
        """`fn(library)` on the search thread."""
        return await self.searches.call(fn)

    async def light(self, fn):
        """`fn(library)` on the thread for pictures and lookups."""
        return await self.files.call(fn)

    async def open(self, indexed: Indexed | None) -> BinaryIO | None:
        """An indexed file opened on a thread of its own: a file whose time changed is hashed
        there (once per change, `media.safefile`), so the library threads go on answering."""
        if indexed is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(self.openers, indexed.open)

    async def kind(self, f: BinaryIO) -> str | None:
        """An opened picture's MIME type by its first bytes (`picture_type`), read on the opening
        threads: a file on a stalled drive holds up none of the others. Closed if it cannot be read."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.openers, picture_type, f)
        except BaseException:
            f.close()
            raise

    async def render(self, f: BinaryIO) -> bytes:
        """A picture browsers cannot show, as a JPEG they can (`rendition`), made on the decoding
        threads beside the uploads; 503 when enough are already under way."""
        if self.renditions >= RENDITIONS_AT_ONCE:
            f.close()
            raise ApiError(503, "busy showing other pictures: try again in a moment", {"Retry-After": "1"})
        self.renditions += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.decoders, rendition, f)
        finally:
            self.renditions -= 1
            _give_memory_back()

    def warm(self) -> None:
        """Load the encoder and the vector index now, so the first search does not wait for them
        (an error here comes back on that search instead)."""
        self.searches.pool.submit(self.searches._run, Library.warm)

    async def decode(self, request: Request) -> Example:
        """An uploaded example image, decoded on the decoding threads (so searches on the worker
        thread go on meanwhile); 503 when enough uploads are already under way."""
        if self.uploads >= UPLOADS_AT_ONCE:
            await _discard(request)  # read and dropped, so the client can read the answer
            raise ApiError(503, "busy with other uploaded images: try again in a moment", {"Retry-After": "2"})
        self.uploads += 1
        try:
            if self.prep is None:
                self.prep = await self.call(lambda lib: lib.bundle.preprocessing)
            prep = self.prep
            data = await _body(request)
            return await asyncio.get_running_loop().run_in_executor(self.decoders, decode_example, data, prep,
                                                                    UPLOAD_MAX_PIXELS)
        finally:
            self.uploads -= 1
            _give_memory_back()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
        self.searches.close()
        self.files.close()
        self.decoders.shutdown()
        self.openers.shutdown()


async def _body(request: Request) -> bytes:
    if int(request.headers.get("content-length") or 0) > UPLOAD_MAX:
        raise ApiError(413, f"the image is larger than {UPLOAD_MAX // 2**20} MB")
    data = bytearray()
    async for chunk in _timed(request):
        data += chunk
        if len(data) > UPLOAD_MAX:
            raise ApiError(413, f"the image is larger than {UPLOAD_MAX // 2**20} MB")
    if not data:
        raise ApiError(400, "send the image file as the request body")
    return bytes(data)


async def _discard(request: Request) -> None:
    """Read a refused upload's body without keeping it (at most UPLOAD_MAX bytes)."""
    seen = 0
    async for chunk in _timed(request):
        seen += len(chunk)
        if seen > UPLOAD_MAX:
            break


async def _timed(request: Request):
    """A request body's chunks, each within UPLOAD_IDLE_SECONDS and all within UPLOAD_SECONDS:
    a client that stalls mid-body gets 408 and its upload slot is free again."""
    loop = asyncio.get_running_loop()
    end = loop.time() + UPLOAD_SECONDS
    stream = request.stream().__aiter__()
    while True:
        wait = min(UPLOAD_IDLE_SECONDS, end - loop.time())
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout=max(wait, 0.001))
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise ApiError(408, f"the upload stalled: an image must arrive within {UPLOAD_SECONDS:g} s, "
                                f"with no pause over {UPLOAD_IDLE_SECONDS:g} s", {"Connection": "close"}) from None
        yield chunk


def _give_memory_back() -> None:
    """After a decode: the freed buffers go back to the system (glibc keeps them otherwise)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
