"""The library's indexing doors: fill the catalog once (`index`) or keep it current (`watch`),
and the roots both remember."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from picfind.catalogs.lock import Waiting
from picfind.catalogs.protocol import BuildProgress
from picfind.library.people import PeopleDoors
from picfind.media.formats import EXTENSIONS, normalise_extensions
from picfind.ocr.reader import DEFAULT_OCR
from picfind.ocr.reader import MODELS as OCR_MODELS
from picfind.people.settings import DEFAULT_FACES, FACE_MODELS, OFF, faces_setting, set_faces
from picfind.records import CLUTTER, DEFAULT_EXCLUDES, CatalogError
from picfind.search.textsearch import ocr_setting, set_ocr

if TYPE_CHECKING:  # indexing and pictures (Pillow, pillow-heif) are imported when used: a search needs neither
    from picfind.analysis import Analysis
    from picfind.indexing.stages import IndexOptions, IndexReport, Progress
    from picfind.indexing.watch import Batch, WatchOptions


def folders(paths: list[str]) -> list[str]:
    """These folders as absolute paths, every one checked: a `CatalogError` for the first that is
    not a folder (the CLI asks before it makes a catalog, so a mistyped folder makes none)."""
    out = []
    for p in paths:
        if not p.strip():
            raise CatalogError("an empty folder name: name the folder to index (use . for this one)")
        path = os.path.abspath(os.path.expanduser(p))
        if not os.path.isdir(path):
            raise CatalogError(f"{p}: no such folder" if not os.path.exists(path) else f"{p}: not a folder")
        out.append(path)
    return out


class IndexingDoors(PeopleDoors):
    def add_roots(self, paths: list[str], extensions: list[str] | str | None = None,
                  excludes: list[str] | None = None, clutter: bool = False) -> list:
        """Remember these folders, each checked before any is added (a missing one adds none).
        `clutter`: do not leave out what systems and sync tools leave behind (`records.CLUTTER`)."""
        exts = normalise_extensions(extensions, EXTENSIONS)
        defaults = [e for e in DEFAULT_EXCLUDES if not (clutter and e in CLUTTER)]
        return [self.catalog.add_root(path, exts, [*defaults, *(excludes or [])]) for path in folders(paths)]

    def index(self, paths: list[str] | None = None, extensions: list[str] | str | None = None,
              excludes: list[str] | None = None, options: IndexOptions | None = None,
              progress: Progress | None = None, ann: str | None = None,
              build_progress: BuildProgress | None = None, waiting: Waiting | None = None,
              ray: str | None = None, ocr: bool | None = None, faces: bool | None = None,
              clutter: bool = False) -> IndexReport:
        """Index these folders (remembered as roots), or re-scan every remembered root; then bring
        the vector index up to date (`ann`: choose its backend, remembered in the catalog).
        One run at a time per SQLite catalog: another waits, and `waiting` is told for whom (runs
        on a shared catalog share the work instead). `ray`: read and embed on a Ray cluster at
        this address ("local": start one for the run). `ocr`: read the text in pictures too (True)
        or no longer (False); `faces`: find the faces in them too, or no longer; both remembered
        in the catalog. `clutter`: these folders keep what systems and sync tools leave behind
        (trash, thumbnails: `records.CLUTTER`), remembered."""
        self._writable("index")
        with self.catalog.one_run(waiting):
            return self._run_index(paths, extensions, excludes, options, progress, ann, build_progress, ray, ocr,
                                   faces, clutter)

    def _run_index(self, paths: list[str] | None, extensions: list[str] | str | None, excludes: list[str] | None,
                   options: IndexOptions | None, progress: Progress | None, ann: str | None,
                   build_progress: BuildProgress | None, ray: str | None, ocr: bool | None,
                   faces: bool | None, clutter: bool = False) -> IndexReport:
        if paths:
            roots = self.add_roots(paths, extensions, excludes, clutter)
        else:
            roots = self.catalog.roots()
            if not roots:
                raise CatalogError("no folders to index yet: run `picfind index FOLDER`")
        if ann:
            self.catalog.choose_index(ann)
        return self._index_roots(roots, self._prepare(ocr, faces), options, progress, build_progress, ray)

    def _prepare(self, ocr: bool | None, faces: bool | None) -> list[Analysis]:
        """Once per run (or per watch): the model remembered, and the analyses the catalog asks
        for (`ocr`, `faces`: turned on or off for good first), their models loaded (each says
        how to install what it needs)."""
        from picfind.indexing.analyses import make_analysis

        self._remember_model()
        reading = ocr_setting(self.catalog) if ocr is None else DEFAULT_OCR if ocr else OFF
        finding = faces_setting(self.catalog) if faces is None else DEFAULT_FACES if faces else OFF
        analyses = [make_analysis(kind, model) for kind, model, known in
                    (("texts", reading, OCR_MODELS), ("faces", finding, FACE_MODELS)) if model in known]
        # remembered once their models loaded: a missing package is said now, and not again each run
        if ocr is not None:
            set_ocr(self.catalog, ocr)
        if faces is not None:
            set_faces(self.catalog, faces)
        return analyses

    def _index_roots(self, roots: list, analyses: list[Analysis], options: IndexOptions | None = None,
                     progress: Progress | None = None, build_progress: BuildProgress | None = None,
                     ray: str | None = None, scope: dict[int, list[str]] | None = None) -> IndexReport:
        from picfind.indexing.indexer import Indexer
        from picfind.indexing.stages import IndexOptions

        stages = None
        if ray is not None:
            from picfind.indexing.ray_runner import RayStages
            address = None if ray == "local" else ray
            stages = RayStages(address, self.bundle, options or IndexOptions())
        report = Indexer(self.catalog, self.encoder, options, stages, analyses).run(roots, progress, scope)
        if any(a.kind == "faces" for a in analyses) and (report.faces_found or report.removed):
            report.people = self.group_faces()  # the new faces into people; the waiting ones tried again
        if not report.interrupted:  # an interrupted run leaves the index behind; the next open catches up
            try:
                self.catalog.sync_index(self.model, progress=build_progress)
            except KeyboardInterrupt:  # Ctrl-C while the index is built: the run's report still comes out
                report.interrupted = True
        return report

    def watch(self, paths: list[str] | None = None, extensions: list[str] | str | None = None,
              excludes: list[str] | None = None, on_batch: Callable[[Batch], None] | None = None,
              on_note: Callable[[str], None] | None = None, stop: threading.Event | None = None,
              options: WatchOptions | None = None, waiting: Waiting | None = None, clutter: bool = False) -> None:
        """Keep the catalog current until `stop` is set (`picfind.indexing.watch`): these folders
        (added as roots first, as `index` does) or every remembered root. The index lock is held
        only while a batch is applied, so a `picfind index` in between runs at once."""
        self._writable("watch")
        from picfind.indexing.watch import Watcher

        if paths:
            self.add_roots(paths, extensions, excludes, clutter)
        elif not self.catalog.roots():
            raise CatalogError("no folders to watch yet: run `picfind watch FOLDER`")

        analyses = self._prepare(None, None)  # the OCR and face models load once, not per batch

        def apply(roots: list, scope: dict[int, list[str]]) -> IndexReport:
            with self.catalog.one_run(waiting):
                return self._index_roots(roots, analyses, scope=scope)
        Watcher(self.catalog.roots, apply, self.catalog.own_files(), options, on_batch, on_note, stop).run()

    def roots(self) -> list:
        return self.catalog.roots()

    def remove_root(self, path: str) -> int:
        self._writable("roots remove")
        n = self.catalog.remove_root(os.path.abspath(os.path.expanduser(path)))
        if n < 0:
            raise CatalogError(f"{path} is not a root; `picfind roots` lists them")
        self.thumbnails.remove(self.catalog.prune_embeddings())
        return n
