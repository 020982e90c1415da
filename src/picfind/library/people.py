"""The library's people doors: faces grouped into people after each run, people named, merged,
hidden and forgotten, faces placed by hand, and person filters made from the names people type."""

from __future__ import annotations

import numpy as np

from picfind.filters import PEOPLE_MODES, Filter
from picfind.library.base import LibraryBase
from picfind.people.grouping import MAX_DISTANCE, group
from picfind.people.settings import DEFAULT_FACES, FACE_MODELS, OFF, faces_setting
from picfind.records import CatalogError, fold


class PeopleDoors(LibraryBase):
    @property
    def finds_faces(self) -> bool:
        return faces_setting(self.catalog) in FACE_MODELS

    def group_faces(self, again: bool = False) -> dict:
        """Put the faces that wait into people (`picfind.people.grouping`); `again`: group every
        face not placed by the user from scratch (named people keep theirs). Deterministic."""
        self._writable("people regroup" if again else "index")
        model = faces_setting(self.catalog)
        model = model if model != OFF else DEFAULT_FACES
        if again:
            self.catalog.ungroup_unnamed(model)
        rows = self.catalog.face_rows(model)
        todo = ((rows.person < 0) & (rows.assigned == 0)).nonzero()[0]
        if not len(todo):
            return {"joined": 0, "new_people": 0, "waiting": 0}
        outcome = group(rows.vectors, rows.person, todo, rows.ids)
        self.catalog.apply_grouping(outcome.joined, outcome.founded)
        joined = len(outcome.joined)
        return {"joined": joined, "new_people": len(outcome.founded), "waiting": len(outcome.waiting)}

    def people(self, hidden: bool = False) -> list[dict]:
        """Every person: id, name, pictures, videos, faces and the id of the face that shows them."""
        return self.catalog.people(hidden)

    def person(self, ref: str | int) -> dict:
        """A person by id or name; one line when there is none."""
        if isinstance(ref, int) or str(ref).strip().isdigit():
            found = self.catalog.person(int(ref))
        else:
            pid = self.name_index().get(fold(str(ref)))
            found = self.catalog.person(pid) if pid is not None else None
        if found is None:
            raise CatalogError(f"no person {ref!r} in {self.location}: `picfind people` lists them")
        return found

    def name_index(self) -> dict[str, int]:
        """Folded names -> person ids: each named person's full name, and their first and last name
        where no one else's shares it ("anna" or "berg" finds Anna Berg while she is the only one)."""
        names = self.catalog.person_names()
        parts: dict[str, set[int]] = {}
        for key, pid in names.items():
            words = key.split()
            for word in {words[0], words[-1]} if len(words) > 1 else ():
                parts.setdefault(word, set()).add(pid)
        return {**{k: ids.pop() for k, ids in parts.items() if len(ids) == 1 and k not in names}, **names}

    def name_person(self, ref: str | int, name: str) -> dict:
        self._writable("people name")
        if not name.strip() or len(name) > 200:
            raise CatalogError("a name is 1 to 200 characters, e.g. picfind people name 3 Anna")
        pid = self.person(ref)["id"]
        self.catalog.name_person(pid, " ".join(name.split()))
        return self.person(pid)

    def merge_people(self, into: str | int, other: str | int) -> dict:
        """`other`'s faces become `into`'s; `into` keeps its name (or takes `other`'s)."""
        self._writable("people merge")
        a, b = self.person(into), self.person(other)
        if a["id"] == b["id"]:
            raise CatalogError("that is one person already: name two different people to merge")
        if a["name"] and b["name"] and a["name"] != b["name"]:
            raise CatalogError(f"{a['name']!r} and {b['name']!r} are named apart: rename one to the other's name "
                               "first if they are one person")
        self.catalog.merge_people(a["id"], b["id"])
        return self.person(a["id"])

    def hide_person(self, ref: str | int, hidden: bool = True) -> dict:
        self._writable("people hide")
        pid = self.person(ref)["id"]
        self.catalog.hide_person(pid, hidden)
        return self.person(pid)

    def place_face(self, face_id: int, ref: str | int | None) -> dict:
        """Put a face in a person (`people assign`), or in nobody (None: `people remove`)."""
        self._writable("people remove" if ref is None else "people assign")
        face = self.catalog.face(face_id)
        if face is None:
            raise CatalogError(f"no face {face_id}: `picfind people show ID` lists a person's faces")
        self.catalog.place_face(face_id, None if ref is None else self.person(ref)["id"])
        return self.catalog.face(face_id) or face

    def forget_faces(self) -> int:
        """Every face vector, crop and person deleted, and face finding turned off."""
        self._writable("people forget")
        n = self.catalog.forget_faces()
        self.catalog.set_setting("faces", OFF)
        return n

    def face_thumb(self, face_id: int) -> bytes | None:
        return self.catalog.face_thumb(face_id)

    def person_faces(self, ref: str | int, limit: int = 1000) -> list[dict]:
        """A person's faces, best first, each with a file that holds it (`path`, None when none is left)."""
        faces = self.catalog.faces_of_person(self.person(ref)["id"], limit)
        files = self.catalog.files_for_hashes(list({f["content_hash"] for f in faces}))
        for f in faces:
            held = files.get(f["content_hash"]) or []
            f["path"] = held[0]["path"] if held else None
        return faces

    def with_people(self, where: Filter | None, names: list[str], mode: str = "all") -> Filter:
        """`where` narrowed to pictures holding these people (by name or id): all, any or only them."""
        if mode not in PEOPLE_MODES:
            raise CatalogError(f"{mode!r} is not a way to match people: all, any or only")
        return (where or Filter()).with_people([self.person(n)["id"] for n in names], mode)

    def people_in_image(self, data: bytes) -> list[int]:
        """The people whose faces are in a picture not in the catalog: each face found now joins
        the person of the nearest grouped face within the grouping distance (none: nobody)."""
        from picfind.media.decode import SkipFile, decode
        from picfind.people.analysis import FACES_MIN_SIDE
        from picfind.people.finder import FaceFinder

        try:
            rgb = np.asarray(decode(data, FACES_MIN_SIDE).image)
        except SkipFile as e:
            raise ValueError(f"cannot read that picture: {e.reason} ({e})") from None
        rows = self.catalog.face_rows(faces_setting(self.catalog))
        grouped = rows.person >= 0
        found = []
        for face in FaceFinder().find(rgb):
            if grouped.any():
                d = np.linalg.norm(rows.vectors[grouped] - face.vector, axis=1)
                if d.min() <= MAX_DISTANCE:
                    found.append(int(rows.person[grouped][int(d.argmin())]))
        return sorted(set(found))

    def faces_status(self) -> dict:
        setting = faces_setting(self.catalog)
        faces, people = self.catalog.count_faces()
        waiting = self.catalog.waiting_faces(setting) if setting in FACE_MODELS else 0
        return {"setting": setting, "faces": faces, "people": people, "waiting": waiting}
