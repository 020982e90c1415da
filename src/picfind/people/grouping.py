"""Faces into people: incremental, deterministic, and never against what the user said.

The rule (Immich's, made stricter where its users complain of merged people):
* a face *joins* a person when it lies within `MAX_DISTANCE` of at least `JOIN_MATCHES` of that
  person's faces (of all of them while the person has fewer); when several people qualify, the
  one with the most such faces wins (then the nearest);
* otherwise it *founds* a new person when it is a core face: at least `MIN_FACES` faces (itself
  included) lie within `MAX_DISTANCE` of it, so one odd detection never becomes a person;
* otherwise it *waits*, and is tried again on the next run (a later picture may make it a core).
Faces are taken in id order and waiting faces are retried until nothing changes, so the same
faces always give the same people. People are never merged by grouping (only `people merge`),
so two people the user named apart stay apart; faces the user placed are never moved.

`MAX_DISTANCE` is Euclidean on dlib's 128-number descriptors (dlib's own same-person threshold
is 0.6); 0.5 keeps different people apart on the labelled set of `benchmarks/faces.py` while
putting nearly all of one person's pictures together: see docs/people.md for the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_DISTANCE = 0.5
MIN_FACES = 3
JOIN_MATCHES = 2
NEIGHBOURS = 64  # nearest faces looked at per face (those within MAX_DISTANCE among them)
_CHUNK = 1024  # faces compared at a time: memory stays at _CHUNK x all faces


@dataclass
class Outcome:
    joined: dict[int, int] = field(default_factory=dict)  # face id -> existing person id
    founded: list[list[int]] = field(default_factory=list)  # new people, each its face ids (founder first)
    waiting: list[int] = field(default_factory=list)  # face ids that found no person yet


def neighbours(vectors: np.ndarray, rows: np.ndarray, max_distance: float = MAX_DISTANCE,
               k: int = NEIGHBOURS) -> list[np.ndarray]:
    """For each of `rows` (indices into `vectors`), the indices of up to k other faces within
    `max_distance`, nearest first (ties by index: deterministic)."""
    squares = np.einsum("ij,ij->i", vectors, vectors)
    out: list[np.ndarray] = []
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start:start + _CHUNK]
        d2 = squares[chunk, None] + squares[None, :] - 2.0 * (vectors[chunk] @ vectors.T)
        d2[np.arange(len(chunk)), chunk] = np.inf  # not its own neighbour
        for row in d2:
            close = np.flatnonzero(row <= max_distance ** 2)
            out.append(close[np.lexsort((close, row[close]))][:k])
    return out


def group(vectors: np.ndarray, person: np.ndarray, todo: np.ndarray, ids: np.ndarray,
          max_distance: float = MAX_DISTANCE, min_faces: int = MIN_FACES,
          join_matches: int = JOIN_MATCHES) -> Outcome:
    """Place the faces at indices `todo` (in order); `person` holds every face's person (-1: none)
    and is not changed. `ids`: the faces' ids, in which the outcome is given."""
    person = person.copy()
    size: dict[int, int] = {}
    for p in person[person >= 0]:
        size[int(p)] = size.get(int(p), 0) + 1
    near = dict(zip(todo.tolist(), neighbours(vectors, todo, max_distance)))
    founded: dict[int, list[int]] = {}  # temporary person (negative, -2 down) -> indices
    pending = list(todo.tolist())
    while pending:
        waiting = []
        for i in pending:
            choice = _join(near[i], person, size, join_matches)
            if choice is not None:
                person[i] = choice
            elif len(near[i]) + 1 >= min_faces:
                choice = -2 - len(founded)
                founded[choice] = []
                person[i] = choice
            else:
                waiting.append(i)
                continue
            size[choice] = size.get(choice, 0) + 1
            if choice < -1:
                founded[choice].append(i)
        if len(waiting) == len(pending):
            break  # nothing moved: the rest wait for more faces
        pending = waiting
    out = Outcome(waiting=[int(ids[i]) for i in pending])
    for i in todo.tolist():
        if person[i] >= 0:
            out.joined[int(ids[i])] = int(person[i])
    out.founded = [[int(ids[i]) for i in members] for members in founded.values()]
    return out


def _join(near: np.ndarray, person: np.ndarray, size: dict[int, int], join_matches: int) -> int | None:
    """The person this face joins, if any: most matching faces, then the nearest (`near` is sorted)."""
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    for rank, j in enumerate(near.tolist()):
        p = int(person[j])
        if p == -1:
            continue
        counts[p] = counts.get(p, 0) + 1
        first.setdefault(p, rank)
    eligible = [p for p, c in counts.items() if c >= min(join_matches, size.get(p, 0))]
    if not eligible:
        return None
    return min(eligible, key=lambda p: (-counts[p], first[p]))
