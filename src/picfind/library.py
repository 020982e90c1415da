"""The library API under the CLI: a catalog plus a model.

    from picfind import Library
    lib = Library("photos.db", model="tiny-shapes")
    lib.index(["~/Pictures"])
    for hit in lib.search("a dog asleep on a red sofa", n=10):
        print(hit.score, hit.path)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import platformdirs

from picfind.catalogs.lock import Waiting
from picfind.catalogs.opening import is_server, open_catalog
from picfind.catalogs.protocol import BuildProgress, CatalogBackend, Thumbnails
from picfind.catalogs.sqlite.vectors import BACKENDS
from picfind.filters import Filter
from picfind.indexing.crawl import DEFAULT_EXCLUDES
from picfind.media.formats import EXTENSIONS, normalise_extensions
from picfind.media.safefile import MAX_FILE_BYTES, open_indexed, read_regular
from picfind.models import store as models
from picfind.models.bundle import Bundle, BundleError
from picfind.models.encoder import Encoder
from picfind.ocr.reader import DEFAULT_OCR, TextReader
from picfind.ocr.reader import MODELS as OCR_MODELS
from picfind.records import CatalogError
from picfind.search.dupes import DEFAULT_THRESHOLD, Group, exact_copies, near_duplicates
from picfind.search.moments import frame_at, moment_vector, open_motion, video_file
from picfind.search.query import Term, combine, parse
from picfind.search.ranking import Hit, search
from picfind.search.textsearch import OFF as OCR_OFF
from picfind.search.textsearch import fuse, ocr_setting, set_ocr, words_of

if TYPE_CHECKING:  # indexing and pictures (Pillow, pillow-heif) are imported when used: a search needs neither
    from picfind.indexing.stages import IndexOptions, IndexReport, Progress
    from picfind.indexing.watch import Batch, WatchOptions
    from picfind.models.preprocess import Preprocessing

ANN_BACKENDS = tuple(BACKENDS)  # the vector indexes `index --ann` may choose
__all__ = ["ANN_BACKENDS", "Library", "Thumbnails"]


def default_db() -> Path | str:
    """$PICFIND_DB (a file path or a postgresql:// URL), else a file in the user data folder."""
    env = os.environ.get("PICFIND_DB")
    if env and is_server(env):
        return env
    return Path(env) if env else Path(platformdirs.user_data_dir("picfind")) / "catalog.db"


@dataclass(frozen=True)
class Example:
    """An example image decoded into the model's input, with its content hash."""
    digest: str
    pixels: np.ndarray


def decode_example(data: bytes, prep: Preprocessing, max_pixels: int | None = None) -> Example:
    """Decode an example image (JPEGs at reduced size, see `decode`). Touches no catalog, so a
    server may run it on other threads, with a lower `max_pixels` for images anyone may send
    (default: `decode.DEFAULT_MAX_PIXELS`)."""
    from picfind.indexing.stages import content_hash
    from picfind.media.decode import DEFAULT_MAX_PIXELS, SkipFile, decode

    max_pixels = max_pixels or DEFAULT_MAX_PIXELS
    try:
        decoded = decode(data, prep.size * 2, max_pixels)
    except SkipFile as e:
        if e.reason == "too many pixels":
            raise ValueError(f"cannot use this image: more than {max_pixels // 10**6} MP, the cap for "
                             "example images here; use a smaller copy") from None
        raise ValueError(f"cannot use this image: {e.reason} ({e})") from None
    return Example(content_hash(data), prep.tensor(prep.resize(decoded.image)))


def _stream_hash(path: str) -> str:
    """A video's content hash, read as a stream."""
    from picfind.indexing.videos import stream_hash
    from picfind.media.video import open_video

    with open_video(path) as f:
        return stream_hash(f)


class Library:
    def __init__(self, db: Path | str | None = None, model: str | None = None,
                 device: str = "auto", threads: int | None = None) -> None:
        self.target = db or default_db()  # what to open again elsewhere (the web server's thread)
        self.catalog: CatalogBackend = open_catalog(self.target)
        self._model_arg = model
        self._device = device
        self._threads = threads
        self._bundle: Bundle | None = None
        self._encoder: Encoder | None = None

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _writable(self, command: str) -> None:
        if self.catalog.read_only:
            raise CatalogError(f"catalog {self.catalog.location} is read-only: searching works, but `{command}` has to "
                               "write; copy it to a writable place and pass --db, or make it writable")

    @property
    def model_choice(self) -> str | None:
        """Which model to use: the one asked for, else the one this catalog was indexed with (so a
        new default never leaves a catalog without vectors), else $PICFIND_MODEL or the default."""
        return self._model_arg or self.catalog.indexed_model()

    @property
    def bundle(self) -> Bundle:
        if self._bundle is None:
            self._bundle = models.resolve(self.model_choice)
        return self._bundle

    def _remember_model(self) -> None:
        """Record the model in the catalog: by name where the name finds this bundle, else by folder."""
        bundle = self.bundle
        try:
            by_name = models.resolve(bundle.name).path.resolve() == bundle.path.resolve()
        except (models.ModelError, BundleError):
            by_name = False
        self.catalog.set_setting("model", bundle.name if by_name else str(bundle.path.resolve()))

    @property
    def model(self) -> str:
        return self.bundle.name

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = Encoder(self.bundle, device=self._device, threads=self._threads, prepared=True)
        return self._encoder

    # indexing
    def add_roots(self, paths: list[str], extensions: list[str] | str | None = None,
                  excludes: list[str] | None = None) -> list:
        exts = normalise_extensions(extensions, EXTENSIONS)
        roots = []
        for p in paths:
            if not p.strip():
                raise CatalogError("an empty folder name: name the folder to index (use . for this one)")
            path = os.path.abspath(os.path.expanduser(p))
            if not os.path.isdir(path):
                raise CatalogError(f"{p}: no such folder" if not os.path.exists(path) else f"{p}: not a folder")
            roots.append(self.catalog.add_root(path, exts, [*DEFAULT_EXCLUDES, *(excludes or [])]))
        return roots

    def index(self, paths: list[str] | None = None, extensions: list[str] | str | None = None,
              excludes: list[str] | None = None, options: IndexOptions | None = None,
              progress: Progress | None = None, ann: str | None = None,
              build_progress: BuildProgress | None = None, waiting: Waiting | None = None,
              ray: str | None = None, ocr: bool | None = None) -> IndexReport:
        """Index these folders (remembered as roots), or re-scan every remembered root; then bring
        the vector index up to date (`ann`: choose its backend, remembered in the catalog).
        One run at a time per SQLite catalog: another waits, and `waiting` is told for whom (runs
        on a shared catalog share the work instead). `ray`: read and embed on a Ray cluster at
        this address ("local": start one for the run). `ocr`: read the text in pictures too (True)
        or no longer (False), remembered in the catalog."""
        self._writable("index")
        with self.catalog.one_run(waiting):
            return self._run_index(paths, extensions, excludes, options, progress, ann, build_progress, ray, ocr)

    def _run_index(self, paths: list[str] | None, extensions: list[str] | str | None, excludes: list[str] | None,
                   options: IndexOptions | None, progress: Progress | None, ann: str | None,
                   build_progress: BuildProgress | None, ray: str | None, ocr: bool | None) -> IndexReport:
        if paths:
            roots = self.add_roots(paths, extensions, excludes)
        else:
            roots = self.catalog.roots()
            if not roots:
                raise CatalogError("no folders to index yet: run `picfind index FOLDER`")
        if ann:
            self.catalog.choose_index(ann)
        return self._index_roots(roots, options, progress, build_progress, ray, ocr)

    def _index_roots(self, roots: list, options: IndexOptions | None = None, progress: Progress | None = None,
                     build_progress: BuildProgress | None = None, ray: str | None = None, ocr: bool | None = None,
                     scope: dict[int, list[str]] | None = None) -> IndexReport:
        self._remember_model()
        from picfind.indexing.indexer import Indexer
        from picfind.indexing.stages import IndexOptions

        reading = ocr_setting(self.catalog) if ocr is None else DEFAULT_OCR if ocr else OCR_OFF
        reader = TextReader(reading) if reading in OCR_MODELS else None  # says so if OCR is not installed
        if ocr is not None:
            set_ocr(self.catalog, ocr)
        stages = None
        if ray is not None:
            from picfind.indexing.ray_runner import RayStages
            address = None if ray == "local" else ray
            stages = RayStages(address, self.bundle, options or IndexOptions())
        report = Indexer(self.catalog, self.encoder, options, stages, ocr=reader).run(roots, progress, scope)
        if not report.interrupted:  # an interrupted run leaves the index behind; the next open catches up
            try:
                self.catalog.sync_index(self.model, progress=build_progress)
            except KeyboardInterrupt:  # Ctrl-C while the index is built: the run's report still comes out
                report.interrupted = True
        return report

    def watch(self, paths: list[str] | None = None, extensions: list[str] | str | None = None,
              excludes: list[str] | None = None, on_batch: Callable[[Batch], None] | None = None,
              on_note: Callable[[str], None] | None = None, stop: threading.Event | None = None,
              options: WatchOptions | None = None, waiting: Waiting | None = None) -> None:
        """Keep the catalog current until `stop` is set (`picfind.indexing.watch`): these folders
        (added as roots first, as `index` does) or every remembered root. The index lock is held
        only while a batch is applied, so a `picfind index` in between runs at once."""
        self._writable("watch")
        from picfind.indexing.watch import Watcher

        if paths:
            self.add_roots(paths, extensions, excludes)
        elif not self.catalog.roots():
            raise CatalogError("no folders to watch yet: run `picfind watch FOLDER`")

        def apply(roots: list, scope: dict[int, list[str]]) -> IndexReport:
            with self.catalog.one_run(waiting):
                return self._index_roots(roots, scope=scope)
        Watcher(self.catalog.roots, apply, self.catalog.own_files(), options, on_batch, on_note, stop).run()

    @property
    def location(self) -> str:
        """The catalog, as messages name it (a server URL without its password)."""
        return self.catalog.location

    @property
    def thumbnails(self) -> Thumbnails:
        return self.catalog.thumbnails

    # searching
    def count(self) -> int:
        """How many pictures (distinct contents) the current model can search."""
        return self.catalog.count_vectors(self.model)

    def embed_text(self, text: str) -> np.ndarray:
        return self.encoder.encode_text(text)

    def embed_image(self, data: bytes | Example) -> tuple[np.ndarray, str]:
        """An image file's vector and content hash: from the catalog when this content is indexed,
        else embedded now (and not added to the catalog)."""
        from picfind.indexing.stages import content_hash

        digest = data.digest if isinstance(data, Example) else content_hash(data)
        known = self.catalog.vector_of(self.model, digest)
        if known is not None:
            return known, digest
        example = data if isinstance(data, Example) else decode_example(data, self.bundle.preprocessing)
        return self.encoder.encode_images(example.pixels[None])[0], digest

    def warm(self) -> None:
        """Get ready for a text search without waiting for one: the text encoder loads on its own
        thread (`Encoder.preload_text`), the vector index here."""
        self.encoder.preload_text()
        self.catalog.open_index(self.model)

    def query_vector(self, query: str | list[str], files: bool = True) -> tuple[np.ndarray, set[str]]:
        """A query's vector (see `picfind.search.query`) and the content hashes of its example images
        (`files=False`: no term is read from disk, for requests from the web)."""
        return self.terms_vector(parse([query] if isinstance(query, str) else query, files))

    def terms_vector(self, terms: list[Term]) -> tuple[np.ndarray, set[str]]:
        """Parsed terms' vector and the content hashes of their example images."""
        if any(term.image is None for term in terms):
            self.warm()  # a fresh process: the encoder loads while the index opens and the text is tokenized
        vectors, examples = [], set()
        for term in terms:
            if term.image is None:
                vectors.append(self.embed_text(term.text or ""))
                continue
            moment = self.video_moment(term.image)
            vector, digest = moment if moment else self.embed_image(read_regular(term.image))
            vectors.append(vector)
            examples.add(digest)
        return combine(vectors, [t.weight for t in terms]), examples

    def search(self, query: str | list[str], n: int = 20, min_score: float | None = None,
               where: Filter | None = None, sort: str = "score", offset: int = 0,
               pool: int | None = None, files: bool = True, ocr_only: bool = False) -> list[Hit]:
        """Text, or a combined query of text and image files (`picfind.search.query`). Example images
        themselves are left out of the results. Paging (`offset`, `pool`): see `picfind.search.ranking.search`.
        When the catalog reads text, pictures whose text holds the query's words come first
        (`picfind.search.textsearch`); `ocr_only`: only those. The query is parsed once, so with
        `files=False` (the web) no part of it ever looks at a path."""
        terms = parse([query] if isinstance(query, str) else query, files)
        vector, examples = self.terms_vector(terms)
        if ocr_setting(self.catalog) not in OCR_MODELS and not ocr_only:
            return self.search_vector(vector, n, min_score, where, sort, exclude=examples, offset=offset, pool=pool)
        # The fused ordering is built over everything up to this page (over the pool, by date).
        want = (pool or n) if sort == "date" else offset + n
        clip = [] if ocr_only else self.search_vector(vector, want, min_score, where, exclude=examples)
        hits = fuse(self.catalog, self.model, vector, clip, words_of(terms), want, where, sort, examples, ocr_only)
        return hits[offset:offset + n]

    def similar(self, image: str | int | bytes | Example, n: int = 20, min_score: float | None = None,
                where: Filter | None = None, sort: str = "score", offset: int = 0,
                pool: int | None = None, at: str | float | None = None) -> list[Hit]:
        """Pictures like this one: a file path, a catalog file id, an image file's bytes or an
        `Example` decoded beforehand; an indexed video at a moment ("clip.mp4@1:23", or `at`
        seconds; the whole video without one). The example itself is left out (a video: all of it)."""
        moment = self.video_moment(image, at) if isinstance(image, str | int) else None
        if at is not None and moment is None:
            raise ValueError("--at is a moment of a video: name an indexed video file")
        if moment is not None:
            vector, digest = moment
        elif isinstance(image, int):
            vector, digest = self._indexed_vector(image)
        else:
            vector, digest = self.embed_image(read_regular(os.path.expanduser(image)) if isinstance(image, str)
                                              else image)
        return self.search_vector(vector, n, min_score, where, sort, exclude={digest}, offset=offset, pool=pool)

    def video_moment(self, video: str | int, at: str | float | None = None) -> tuple[np.ndarray, str] | None:
        """The stored vector of an indexed video at a moment, and the video's content hash: a
        path ("clip.mp4", "clip.mp4@1:23") or a catalog file id; None when it names no video.
        Without a time, the video as a whole (`picfind.search.moments`)."""
        if isinstance(video, int):
            found = self.catalog.file_by_id(video)
            if found is None or found.get("duration") is None:
                return None
            digest, name = found["content_hash"], found["path"]
        else:
            named = video_file(video, at)
            if named is None:
                return None
            (name, at), digest = named, _stream_hash(named[0])
        vector = moment_vector(self.catalog, self.model, digest, at)
        if vector is None:
            raise LookupError(f"{name} is not indexed with {self.model}: run `picfind index` on its folder first")
        return vector, digest

    def _indexed_vector(self, file_id: int) -> tuple[np.ndarray, str]:
        """A catalog picture's vector: the stored one, else its file's (while still the indexed file)."""
        found = self.catalog.file_by_id(file_id)
        if found is None:
            raise LookupError(f"no picture with id {file_id} in the catalog")
        known = self.catalog.vector_of(self.model, found["content_hash"])
        if known is not None:
            return known, found["content_hash"]
        f = self.open_image(file_id)
        if f is None:
            raise LookupError(f"picture {file_id} is no longer on disk as it was indexed: run `picfind index`")
        with f:
            return self.embed_image(f.read())

    def search_vector(self, vector: np.ndarray, n: int = 20, min_score: float | None = None,
                      where: Filter | None = None, sort: str = "score", exclude: set[str] | None = None,
                      offset: int = 0, pool: int | None = None) -> list[Hit]:
        return search(self.catalog, self.model, vector, n, min_score, where, sort, exclude, offset, pool)

    def dupes(self, near: bool = False, threshold: float = DEFAULT_THRESHOLD,
              progress: Callable[[int, int], None] | None = None) -> list[Group]:
        """Exact copies, or near-duplicates by embedding similarity (`picfind.search.dupes`)."""
        if not near:
            return exact_copies(self.catalog)
        return near_duplicates(self.catalog, self.model, threshold, progress,
                               nearest=self.catalog.nearest(self.model))

    # indexed files, for the web page: only what was indexed, as it was indexed
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

    # status
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
            "roots": [{"path": r.path, "extensions": r.extensions, "excludes": r.excludes}
                      for r in self.catalog.roots()],
            **stats,
            "ocr": self._ocr_status(),
            "vector_index": self.catalog.index_status(model),
        }

    def _ocr_status(self) -> dict:
        setting = ocr_setting(self.catalog)
        read, with_text = self.catalog.count_texts(setting) if setting in OCR_MODELS else (0, 0)
        return {"setting": setting, "pictures_read": read, "with_text": with_text}

    def skipped_files(self) -> list[dict]:
        return self.catalog.skipped_files()

    def roots(self) -> list:
        return self.catalog.roots()

    def remove_root(self, path: str) -> int:
        self._writable("roots remove")
        n = self.catalog.remove_root(os.path.abspath(os.path.expanduser(path)))
        if n < 0:
            raise CatalogError(f"{path} is not a root; `picfind roots` lists them")
        self.thumbnails.remove(self.catalog.prune_embeddings())
        return n
