"""The faces found in pictures and the people they are grouped into, in either catalog.

One implementation over both backends: the SQL is portable (written with `?` marks, which the
PostgreSQL catalog turns into its own), and each backend says how to read, write in one
transaction, and store a vector (a float32 BLOB in SQLite, a pgvector `vector(128)` in
PostgreSQL). Faces are kept per (picture or video frame, face model) like vectors, so copies,
moves and renames find nothing again; a face remembers its content (a video's faces their
video) for filters, and its frame key for the moment a person appears.

What the user says is never undone by grouping (`picfind.people.grouping`): a face the user put
in a person (`assigned = 1`) or took out of every person (`assigned = -1`) stays so; named people
keep their faces when the rest are grouped again from scratch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from picfind.records import CatalogError, fold, owner

if TYPE_CHECKING:
    from picfind.people.faces import Face

ASSIGNED, REMOVED = 1, -1  # `faces.assigned`: by the user (0: by grouping, or waiting)


class Executor(Protocol):
    def execute(self, query: str, params: Any = ...) -> Any: ...
    def executemany(self, query: str, params: Any) -> Any: ...


@dataclass
class FaceRows:
    """Every face of one face model, for grouping: ids in order, vectors, person (-1: none), assigned."""
    ids: np.ndarray
    vectors: np.ndarray
    person: np.ndarray
    assigned: np.ndarray


class FaceStore:
    """Catalog methods for faces and people (mixed into each backend, which provides the four below)."""

    def _fq(self, query: str, params: Iterable = ()) -> list[tuple]:
        """Rows of a read (`?` marks)."""
        raise NotImplementedError

    def _fx(self) -> AbstractContextManager[Executor]:
        """One write transaction; its executor takes the backend's own marks (`_sql`)."""
        raise NotImplementedError

    def _sql(self, query: str) -> str:
        return query

    def _vector_in(self, vector: np.ndarray) -> Any:
        return np.asarray(vector, np.float32).tobytes()

    def _vector_out(self, stored: Any) -> np.ndarray:
        return np.frombuffer(stored, np.float32)

    # what the indexer writes (`picfind.analysis`: kind "faces")
    def faces_read(self, model: str) -> set[str]:
        """Pictures and video frames searched for faces with this model (with or without finding any)."""
        return {k for (k,) in self._fq("SELECT frame FROM faces_read WHERE face_model = ?", (model,))}

    def put_faces(self, model: str, results: dict[str, list[Face]]) -> None:
        """Store the faces found, in one transaction (a content searched twice keeps the first)."""
        with self._fx() as ex:
            for key in sorted(results):  # one order in every client: concurrent writers never deadlock
                row = ex.execute(self._sql("INSERT INTO faces_read(frame, face_model, content_hash) "
                                           "VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING frame"),
                                 (key, model, owner(key))).fetchone()
                if row is None:
                    continue
                ex.executemany(self._sql(
                    "INSERT INTO faces(content_hash, frame, face_model, x, y, w, h, score, quality, vector, thumb) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    [(owner(key), key, model, *f.box, f.score, f.quality, self._vector_in(f.vector), f.thumb)
                     for f in results[key]])

    # what grouping reads and writes (`picfind.people.grouping`)
    def face_rows(self, model: str) -> FaceRows:
        rows = self._fq("SELECT id, vector, coalesce(person_id, -1), assigned FROM faces WHERE face_model = ? "
                        "ORDER BY id", (model,))
        if not rows:
            return FaceRows(np.zeros(0, np.int64), np.zeros((0, 128), np.float32), np.zeros(0, np.int64),
                            np.zeros(0, np.int64))
        return FaceRows(np.array([r[0] for r in rows], np.int64), np.stack([self._vector_out(r[1]) for r in rows]),
                        np.array([r[2] for r in rows], np.int64), np.array([r[3] for r in rows], np.int64))

    def waiting_faces(self, model: str) -> int:
        """Faces grouping has not put in a person yet (and the user has not taken out)."""
        row = self._fq("SELECT count(*) FROM faces WHERE face_model = ? AND person_id IS NULL AND assigned = 0",
                       (model,))
        return row[0][0]

    def apply_grouping(self, joined: dict[int, int], founded: list[list[int]]) -> list[int]:
        """Faces into existing people (face id -> person id), and new people, each from its faces
        (the first is the founder). Returns the new people's ids, in order."""
        new: list[int] = []
        with self._fx() as ex:
            for faces in founded:
                (pid,) = ex.execute(self._sql("INSERT INTO people(created) VALUES (?) RETURNING id"),
                                    (time.time(),)).fetchone()
                new.append(pid)
                joined.update({f: pid for f in faces})
            ex.executemany(self._sql("UPDATE faces SET person_id = ? WHERE id = ? AND assigned = 0"),
                           [(pid, fid) for fid, pid in sorted(joined.items())])
        return new

    def ungroup_unnamed(self, model: str) -> None:
        """Before grouping again from scratch: the faces grouping put in unnamed people wait again,
        and those people go (named people, and the faces the user placed, stay)."""
        with self._fx() as ex:
            ex.execute(self._sql("UPDATE faces SET person_id = NULL WHERE face_model = ? AND assigned = 0 AND "
                                 "person_id IN (SELECT id FROM people WHERE name IS NULL)"), (model,))
            self._drop_empty_people(ex)

    @staticmethod
    def _drop_empty_people(ex: Executor) -> None:
        ex.execute("DELETE FROM people WHERE NOT EXISTS (SELECT 1 FROM faces x WHERE x.person_id = people.id)")

    # people, as the user sees and changes them
    def people(self, hidden: bool = False) -> list[dict]:
        """Every person with their counts and cover face, most pictures first (hidden ones only with `hidden`)."""
        return self._people("" if hidden else "WHERE p.hidden = 0")

    def person(self, person_id: int) -> dict | None:
        """One person, as `people` lists them (read alone: a search with a person asks on its way)."""
        found = self._people("WHERE p.id = ?", (person_id,)) if 0 <= person_id < 2**63 else []
        return found[0] if found else None

    def _people(self, where: str, params: tuple = ()) -> list[dict]:
        rows = self._fq(
            "SELECT p.id, p.name, p.hidden, count(DISTINCT x.id), "
            "count(DISTINCT CASE WHEN f.duration IS NULL THEN x.content_hash END), "
            "count(DISTINCT CASE WHEN f.duration IS NOT NULL THEN x.content_hash END), "
            "coalesce(p.cover, (SELECT y.id FROM faces y WHERE y.person_id = p.id "
            "ORDER BY y.quality DESC, y.id LIMIT 1)) "
            "FROM people p JOIN faces x ON x.person_id = p.id "
            f"LEFT JOIN files f ON f.content_hash = x.content_hash AND f.status = 'ok' {where} "
            "GROUP BY p.id, p.name, p.hidden, p.cover ORDER BY count(DISTINCT x.content_hash) DESC, p.id", params)
        return [{"id": pid, "name": name, "hidden": bool(hid), "faces": faces, "pictures": pictures,
                 "videos": videos, "face": cover} for pid, name, hid, faces, pictures, videos, cover in rows]

    def person_names(self) -> dict[str, int]:
        """Every named person's folded name -> id (for names typed inside a query)."""
        return {key: pid for pid, key in self._fq("SELECT id, name_key FROM people WHERE name_key IS NOT NULL "
                                                  "AND hidden = 0")}

    def name_person(self, person_id: int, name: str) -> None:
        key = fold(name)
        with self._fx() as ex:
            taken = ex.execute(self._sql("SELECT id FROM people WHERE name_key = ? AND id != ?"),
                               (key, person_id)).fetchone()
            if taken:
                raise CatalogError(f"person {taken[0]} is already called {name!r}: if they are one person, "
                                   f"merge them with `picfind people merge {taken[0]} {person_id}`")
            ex.execute(self._sql("UPDATE people SET name = ?, name_key = ? WHERE id = ?"), (name, key, person_id))

    def merge_people(self, into: int, other: int) -> None:
        """`other`'s faces become `into`'s (placed by the user now: grouping never splits them again)."""
        with self._fx() as ex:
            name = ex.execute(self._sql("SELECT name FROM people WHERE id = ?"), (other,)).fetchone()
            ex.execute(self._sql("UPDATE faces SET person_id = ?, assigned = CASE WHEN assigned = 0 THEN 1 "
                                 "ELSE assigned END WHERE person_id = ?"), (into, other))
            ex.execute(self._sql("UPDATE people SET name = coalesce(name, ?), name_key = coalesce(name_key, ?) "
                                 "WHERE id = ?"), (None if name is None else name[0],
                                                   None if name is None or name[0] is None else fold(name[0]), into))
            ex.execute(self._sql("DELETE FROM people WHERE id = ?"), (other,))

    def hide_person(self, person_id: int, hidden: bool = True) -> None:
        with self._fx() as ex:
            ex.execute(self._sql("UPDATE people SET hidden = ? WHERE id = ?"), (int(hidden), person_id))

    def place_face(self, face_id: int, person_id: int | None) -> None:
        """The user puts a face in a person, or (None) in nobody: grouping never moves it again."""
        with self._fx() as ex:
            ex.execute(self._sql("UPDATE faces SET person_id = ?, assigned = ? WHERE id = ?"),
                       (person_id, REMOVED if person_id is None else ASSIGNED, face_id))
            ex.execute(self._sql("UPDATE people SET cover = NULL WHERE cover = ?"), (face_id,))
            self._drop_empty_people(ex)

    def face(self, face_id: int) -> dict | None:
        rows = self._fq("SELECT id, content_hash, frame, x, y, w, h, quality, person_id, assigned FROM faces "
                        "WHERE id = ?", (face_id,))
        return _face_dict(rows[0]) if rows else None

    def face_thumb(self, face_id: int) -> bytes | None:
        rows = self._fq("SELECT thumb FROM faces WHERE id = ?", (face_id,)) if 0 <= face_id < 2**63 else []
        return bytes(rows[0][0]) if rows else None

    def faces_of_person(self, person_id: int, limit: int = 1000) -> list[dict]:
        rows = self._fq("SELECT id, content_hash, frame, x, y, w, h, quality, person_id, assigned FROM faces "
                        "WHERE person_id = ? ORDER BY quality DESC, id LIMIT ?", (person_id, limit))
        return [_face_dict(r) for r in rows]

    def faces_in(self, hashes: list[str]) -> dict[str, list[dict]]:
        """The faces in these contents (a video's in all its frames), by content."""
        out: dict[str, list[dict]] = {h: [] for h in hashes}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            rows = self._fq("SELECT id, content_hash, frame, x, y, w, h, quality, person_id, assigned FROM faces "
                            f"WHERE content_hash IN ({', '.join('?' * len(chunk))}) ORDER BY id", chunk)
            for r in rows:
                out[r[1]].append(_face_dict(r))
        return out

    def count_faces(self) -> tuple[int, int]:
        """(faces, people shown)."""
        faces = self._fq("SELECT count(*) FROM faces")[0][0]
        people = self._fq("SELECT count(*) FROM people p WHERE hidden = 0 AND EXISTS "
                          "(SELECT 1 FROM faces x WHERE x.person_id = p.id)")[0][0]
        return faces, people

    def forget_faces(self) -> int:
        """Every face, its vector and crop, and every person, gone; returns how many faces were kept."""
        with self._fx() as ex:
            n = ex.execute("SELECT count(*) FROM faces").fetchone()[0]
            for table in ("faces", "faces_read", "people"):
                ex.execute(f"DELETE FROM {table}")
        self._reclaim()
        return n

    def _reclaim(self) -> None:
        """After `forget_faces`: the freed pages overwritten (what is deleted must not linger on disk)."""

    def prune_faces(self, ex: Executor, contents: list[str] | None = None) -> None:
        """Drop the faces of contents no file holds any more (inside the caller's transaction): a
        deleted picture's faces leave their person; people left with none go. `contents`: only
        these can have lost their last file (a run's departed files), so only their rows are read."""
        orphan = "NOT EXISTS (SELECT 1 FROM files f WHERE f.content_hash = {t}.content_hash)"
        for table in ("faces", "faces_read"):
            if contents is None:
                ex.execute(f"DELETE FROM {table} WHERE " + orphan.format(t=table))
                continue
            for i in range(0, len(contents), 400):
                chunk = contents[i:i + 400]
                ex.execute(self._sql(f"DELETE FROM {table} WHERE content_hash IN ({', '.join('?' * len(chunk))}) "
                                     "AND " + orphan.format(t=table)), chunk)
        ex.execute("UPDATE people SET cover = NULL WHERE cover IS NOT NULL AND NOT EXISTS "
                   "(SELECT 1 FROM faces x WHERE x.id = people.cover)")
        self._drop_empty_people(ex)



def _face_dict(row: tuple) -> dict:
    fid, content, frame, x, y, w, h, quality, person, assigned = row
    return {"id": fid, "content_hash": content, "frame": frame, "box": [x, y, w, h], "quality": quality,
            "person": person, "assigned": assigned}
