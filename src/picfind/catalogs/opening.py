"""Which catalog a `--db` value names: a PostgreSQL URL is the shared catalog, anything else a
SQLite file. Above both backends, so neither imports it back."""

from __future__ import annotations

from pathlib import Path

from picfind.catalogs.protocol import CatalogBackend
from picfind.records import CatalogError

SERVER_SCHEMES = ("postgresql://", "postgres://")


def is_server(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(SERVER_SCHEMES)


def open_catalog(target: str | Path) -> CatalogBackend:
    """The catalog a `--db` value names: a PostgreSQL URL, else a SQLite file path."""
    if is_server(target):
        try:
            from picfind.catalogs.postgres.catalog import PgCatalog
        except ImportError as e:
            raise CatalogError(f"a PostgreSQL catalog needs the cluster extra: pip install 'picfind[cluster]' "
                               f"({e.name or e} is missing)") from None
        return PgCatalog(str(target))
    from picfind.catalogs.sqlite.backend import EmbeddedCatalog
    return EmbeddedCatalog(Path(target).expanduser())
