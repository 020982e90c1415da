"""The library's ground floor: the catalog it opened and the model it searches with."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import platformdirs

from picfind.catalogs.opening import is_server, open_catalog
from picfind.catalogs.protocol import CatalogBackend, Thumbnails
from picfind.catalogs.sqlite.vectors import BACKENDS
from picfind.library.text_ahead import TextAhead
from picfind.models import store as models
from picfind.models.bundle import Bundle, BundleError
from picfind.models.encoder import Encoder
from picfind.records import CatalogError

ANN_BACKENDS = tuple(BACKENDS)  # the vector indexes `index --ann` may choose
__all__ = ["ANN_BACKENDS", "LibraryBase", "Thumbnails", "check_models", "default_db", "not_there"]
_Self = TypeVar("_Self", bound="LibraryBase")


def default_db() -> Path | str:
    """$PICFIND_DB (a file path or a postgresql:// URL), else a file in the user data folder."""
    env = os.environ.get("PICFIND_DB")
    if env and is_server(env):
        return env
    return Path(env) if env else _user_catalog()


def _no_catalog(target: Path | str) -> str:
    if str(target) == str(_user_catalog()):
        return (f"no catalog yet at {target} (the default; --db or $PICFIND_DB names another): "
                "`picfind index FOLDER` makes one, or `picfind search QUERY --here` indexes this folder")
    return f"no catalog at {target}: check --db or $PICFIND_DB, or make one: `picfind index FOLDER --db {target}`"


def not_there(target: Path | str) -> bool:
    """Whether this catalog is a file not made yet (opening it would make it; a server's is never)."""
    return not is_server(target) and not Path(target).expanduser().exists()


def check_models(model: str | None, text_model: str | None = None) -> None:
    """Before a catalog is made: the model a new catalog is indexed with (the one named, else the
    default) is there, and a text encoder named pairs with it; a `ModelError` or `BundleError` if not."""
    from picfind.library.multilingual import NO_TEXT_MODEL, check_pair

    bundle = models.resolve(model)
    if text_model is not None and text_model.strip().lower() not in NO_TEXT_MODEL:
        check_pair(models.resolve(text_model), bundle)


def _user_catalog() -> Path:  # noqa: N802
    return Path(platformdirs.user_data_dir("picfind")) / "catalog.db"


class LibraryBase:
    """The catalog and the model (loaded on first use) that every door of `Library` shares."""

    def __init__(self, db: Path | str | None = None, model: str | None = None,
                 device: str = "auto", threads: int | None = None, create: bool = True,
                 text_model: str | None = None) -> None:
        """`create=False`: only open a catalog that exists (a command that reads; a mistyped --db
        would otherwise become an empty catalog, and its folder, answering "no matches")."""
        self.target = db or default_db()  # what to open again elsewhere (the web server's thread)
        if not create and not_there(self.target):
            raise CatalogError(_no_catalog(self.target))
        self.catalog: CatalogBackend = open_catalog(self.target)
        self._model_arg = model
        self._device = device
        self._threads = threads
        self._bundle: Bundle | None = None
        self._encoder: Encoder | None = None
        self._text_model_arg = text_model  # a multilingual text encoder paired with the model (library.multilingual)
        self._text_bundle: Bundle | None = None
        self._text_encoder: Encoder | None = None
        # A one-shot search (the CLI's) makes its query's text side in a forked child (`text_ahead`).
        self.forks_text = False
        self._ahead: TextAhead | None = None
        self._ahead_texts: list[str] = []

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
        self.catalog.close()

    def __enter__(self: _Self) -> _Self:
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

    @property
    def text_model_choice(self) -> str | None:
        """The text encoder asked for, else the catalog's setting; None: the model's own text tower."""
        from picfind.library.multilingual import NO_TEXT_MODEL, TEXT_MODEL_SETTING

        choice = self._text_model_arg if self._text_model_arg is not None else \
            self.catalog.setting(TEXT_MODEL_SETTING, "")
        return None if choice.strip().lower() in NO_TEXT_MODEL else choice

    @property
    def text_bundle(self) -> Bundle:
        """The bundle that reads queries: a paired text encoder (checked), or the model itself."""
        if self._text_bundle is None:
            choice = self.text_model_choice
            if choice is None:
                return self.bundle
            from picfind.library.multilingual import check_pair

            bundle = models.resolve(choice)
            check_pair(bundle, self.bundle)
            self._text_bundle = bundle
        return self._text_bundle

    @property
    def text_encoder(self) -> Encoder:
        if self.text_bundle is self.bundle:
            return self.encoder
        if self._text_encoder is None:
            self._text_encoder = Encoder(self.text_bundle, device=self._device, threads=self._threads, prepared=True)
        return self._text_encoder

    def set_text_model(self, name: str | None) -> None:
        """Remember a text encoder for this catalog's searches (None or "none": the model's own)."""
        from picfind.library.multilingual import NO_TEXT_MODEL, TEXT_MODEL_SETTING, check_pair

        if name is not None and name.strip().lower() not in NO_TEXT_MODEL:
            check_pair(models.resolve(name), self.bundle)
        self.catalog.set_setting(TEXT_MODEL_SETTING, name or "")
        self._text_model_arg, self._text_bundle, self._text_encoder = None, None, None

    @property
    def location(self) -> str:
        """The catalog, as messages name it (a server URL without its password)."""
        return self.catalog.location

    @property
    def thumbnails(self) -> Thumbnails:
        return self.catalog.thumbnails
