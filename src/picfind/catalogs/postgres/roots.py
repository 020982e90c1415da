"""The PostgreSQL catalog's settings and roots (mixed into `PgCatalog`, which provides `_run`,
`_one` and `_transaction`). A root inside another takes over its files when added, and gives
them back when removed, as in the SQLite catalog (`sqlite/schema.reown_sql`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import psycopg

from picfind.catalogs.postgres.tallies import FOLD
from picfind.records import Root, fs


def _reown(cur: psycopg.Cursor, leaving: int = 0) -> None:
    """Give every file to the innermost root that holds it, root `leaving` left out (a file under
    two nested roots belongs to the inner one, whichever was indexed last)."""
    cur.execute(
        "UPDATE files f SET root_id = o.root_id FROM (SELECT f2.id, (SELECT r.id FROM roots r WHERE r.id <> %s "
        "AND substring(f2.path FROM 1 FOR length(r.path) + 1) = r.path || %s ORDER BY length(r.path) DESC "
        "LIMIT 1) AS root_id FROM files f2) o WHERE f.id = o.id AND o.root_id IS NOT NULL "
        "AND f.root_id <> o.root_id", (leaving, os.fsencode(os.sep)))



class PgRoots:
    _run: Callable[..., list[tuple]]
    _one: Callable[..., tuple | None]
    _transaction: Callable[[], AbstractContextManager[psycopg.Cursor]]

    # settings
    def setting(self, key: str, default: str) -> str:
        row = self._one("SELECT value FROM settings WHERE key = %s", (key,))
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self._run("INSERT INTO settings(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                  "SET value = excluded.value", (key, value))

    def indexed_model(self) -> str | None:
        """The model this catalog was last indexed with (None for a new catalog)."""
        recorded = self.setting("model", "")
        if recorded:
            return recorded
        row = self._one("SELECT model FROM embeddings GROUP BY model ORDER BY count(*) DESC LIMIT 1")
        return row[0] if row else None

    # roots
    def add_root(self, path: str, extensions: list[str], excludes: list[str]) -> Root:
        with self._transaction() as cur:
            root_id, new = cur.execute(
                "INSERT INTO roots(path, extensions, excludes, added_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (path) DO UPDATE SET extensions = excluded.extensions, excludes = excluded.excludes "
                "RETURNING id, xmax = 0", (os.fsencode(path), json.dumps(extensions), json.dumps(excludes),
                                           time.time())).fetchone()
            if new:
                _reown(cur)  # a root inside another takes over its files, no re-hashing
        return Root(root_id, path, extensions, excludes)

    def roots(self) -> list[Root]:
        rows = self._run("SELECT id, path, extensions, excludes FROM roots ORDER BY path")
        return [Root(i, fs(bytes(p)), json.loads(e), json.loads(x)) for i, p, e, x in rows]

    def remove_root(self, path: str) -> int:
        with self._transaction() as cur:
            row = cur.execute("SELECT id FROM roots WHERE path = %s FOR UPDATE", (os.fsencode(path),)).fetchone()
            if row is None:
                return -1
            _reown(cur, leaving=row[0])  # files also under another root go to it
            n = cur.execute("DELETE FROM files WHERE root_id = %s", (row[0],)).rowcount
            cur.execute("DELETE FROM roots WHERE id = %s", (row[0],))
        self._run(FOLD)
        return n
