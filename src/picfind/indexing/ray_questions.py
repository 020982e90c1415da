"""What a Ray run's workers ask the driver about the catalog, about the contents they meet: which
of them have a vector, which an analysis (OCR, faces) has seen, and known videos' stored frame
keys, each once per batch (a question is a Ray round trip, about 6 ms). The local runner's reader
threads ask the same questions of the catalog (`catalogs/known.py`). Shipping every embedded hash
and analysed key to each worker instead costs hundreds of MB a run at millions of pictures,
whatever few files changed.

Workers never open the catalog (a SQLite one stays on the driver's disk): a question waits in
the run's `Desk` actor until the driver's `Answers` thread replies from the driver's catalog.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from picfind.catalogs.known import KnownContents
from picfind.records import owner

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend
    from picfind.indexing.stages import Done

VECTORS = "vectors"  # which of these contents have a vector (else: an analysis kind, or FRAMES)
FRAMES = "frames"  # a known video's kept frames' keys, stored when it was embedded
WAIT = 0.5  # seconds the driver's thread waits for a question before it looks whether to stop


class Desk:
    """One async actor of the run: each worker's question waits here until the driver answers."""

    def __init__(self) -> None:
        self.waiting: asyncio.Queue | None = None  # made in the actor's event loop
        self.pending: dict[int, asyncio.Future] = {}  # by question number
        self.numbered = 0

    def _queue(self) -> asyncio.Queue:
        if self.waiting is None:
            self.waiting = asyncio.Queue()
        return self.waiting

    async def ask(self, topic: str, keys: list[str]) -> list[str]:
        self.numbered += 1
        reply = asyncio.get_running_loop().create_future()
        self.pending[self.numbered] = reply
        self._queue().put_nowait((self.numbered, topic, keys))
        answer = await reply
        if isinstance(answer, str):  # the driver could not answer: that file's skip says why
            raise RuntimeError(answer)
        return answer

    async def questions(self) -> list[tuple[int, str, list[str]]]:
        """The questions waiting, all of them at once (none after `WAIT` seconds)."""
        queue = self._queue()
        try:
            out = [await asyncio.wait_for(queue.get(), WAIT)]
        except asyncio.TimeoutError:
            return []
        while not queue.empty():
            out.append(queue.get_nowait())
        return out

    async def answer(self, answers: dict[int, list[str] | str]) -> None:
        for number, answer in answers.items():
            self.pending.pop(number).set_result(answer)


def asking(ray, desk, topic: str, ask: bool = True) -> KnownContents:
    """A worker's view of what the catalog has (`VECTORS`, or an analysis kind): the contents not
    yet known are asked about through the desk, a batch's at once (`KnownContents.among`). With
    `ask` False (a first run: no vector of the model in the catalog) nothing is asked: only the
    run's own contents can have one, and its claim book keeps each from being embedded twice."""
    if not ask:
        return KnownContents(lambda keys: set())
    return KnownContents(lambda keys: set(ray.get(desk.ask.remote(topic, keys))))


def stored_keys(ray, desk, content_hashes: list[str]) -> dict[str, list[str]]:
    """Known videos' kept frames' keys, as the catalog stores them, by video: one question."""
    keys: dict[str, list[str]] = {h: [] for h in content_hashes}
    for key in ray.get(desk.ask.remote(FRAMES, content_hashes)):
        keys[owner(key)].append(key)
    return keys


class Answers(threading.Thread):
    """The driver's side: answers the desk's questions from the driver's catalog while the run
    goes on (its main thread writes what comes back)."""

    def __init__(self, ray, desk, catalog: CatalogBackend, model: str, known: KnownContents, done: Done) -> None:
        super().__init__(name="picfind-ray-answers", daemon=True)
        self.ray, self.desk, self.catalog, self.model = ray, desk, catalog, model
        self.known, self.done = known, done
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                waiting = self.ray.get(self.desk.questions.remote())
            except self.ray.exceptions.RayError:
                return  # the run is over (its actors gone)
            if waiting:
                self.desk.answer.remote({number: self.reply(topic, keys) for number, topic, keys in waiting})

    def reply(self, topic: str, keys: list[str]) -> list[str] | str:
        try:
            if topic == FRAMES:
                return [k for h in keys for k in self.catalog.frame_keys(self.model, h)]
            seen = self.known if topic == VECTORS else self.done[topic]
            return seen.among(keys) if isinstance(seen, KnownContents) else [k for k in keys if k in seen]
        except Exception as e:  # noqa: BLE001 - the worker's file is skipped with this line, the run goes on
            return f"the driver could not answer about the catalog: {type(e).__name__}: {e}"

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=2 * WAIT + 1)
