"""Duplicates: exact copies (one content hash, several files) and near-duplicates (resized,
re-encoded, lightly cropped copies: embeddings closer than a threshold).

Near-duplicate candidates are each vector's nearest neighbours, never every pair: from the
catalog's approximate index where it has one (the embedded catalog's hnsw past 100k vectors,
PostgreSQL's HNSW index), else from an exact blockwise comparison that keeps only each row's
best `NEIGHBOURS` (memory grows with the catalog, not its square, whatever the threshold).
Candidates are joined into clusters, and each cluster is cut into groups around the copy to keep
(`keep.py`: original name, not trashed, most pixels...): every member of a group is within the
threshold of its keep, with its score (no chains of look-alikes). picfind never deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from picfind.records import frame_span, owner
from picfind.search.keep import keep_key, ranked, reason, stems_of

if TYPE_CHECKING:
    from picfind.catalogs.protocol import CatalogBackend, Nearest

DEFAULT_THRESHOLD = 0.93
THRESHOLDS = (0.5, 1.0)  # below 0.5 nearly any two pictures "match": a group of the whole catalog
NEIGHBOURS = 16  # candidates per picture
VIDEO_SHARE = 0.8  # two videos are near-duplicates when this share of each one's moments match
BLOCK_SCORES = 16_000_000  # scores held at once (64 MB of float32)
BLOCK_ROWS = 10_000  # vectors walked through the index at once (20 MB at 512 dimensions)
INDEX_SLACK = 0.03  # an index's scores are within this of the cosine (int8: 0.02; float16: 0.001)
Vectors = tuple[np.ndarray, np.ndarray]  # ids, and their unit vectors row by row


@dataclass
class Member:
    path: str
    size: int
    width: int | None
    height: int | None
    copies: list[str] = field(default_factory=list)  # other files with identical content
    score: float = 1.0  # similarity to the group's first member
    id: int = 0


@dataclass
class Group:
    members: list[Member]
    wasted_bytes: int  # what removing every file but the first member's first would free
    keep_reason: str = ""  # why the first member's first file is the one to keep

    def as_dict(self) -> dict:
        return asdict(self)


def exact_copies(catalog: CatalogBackend) -> list[Group]:
    """Groups of files with the same content, the most wasteful first."""
    groups = []
    for files in catalog.files_for_hashes(catalog.repeated_contents()).values():
        if len(files) < 2:
            continue
        stems = stems_of(files)
        files = ranked(files, stems)
        members = [Member(f["path"], f["size"], f["width"], f["height"], id=f["id"]) for f in files]
        groups.append(Group(members, sum(m.size for m in members[1:]), reason(files[0], files[1], stems)))
    return sorted(groups, key=lambda g: -g.wasted_bytes)


def check_threshold(threshold: float) -> float:
    """The threshold, or a ValueError saying which are allowed."""
    low, high = THRESHOLDS
    if not low <= threshold <= high:
        raise ValueError(f"threshold {threshold} is out of range: use {low} to {high} (cosine similarity; "
                         f"default {DEFAULT_THRESHOLD}, lower finds looser copies)")
    return threshold


def similar_pairs(matrix: np.ndarray, threshold: float, progress: Callable[[int, int], None] | None = None,
                  k: int = NEIGHBOURS) -> list[tuple[int, int, float]]:
    """(i, j, score) with i < j and cosine >= threshold, j among i's k nearest or i among j's:
    one block of rows at a time, keeping only each row's best k (never every pair)."""
    n = len(matrix)
    block = max(1, BLOCK_SCORES // max(n, 1))
    found: dict[tuple[int, int], float] = {}
    for start in range(0, n, block):
        scores = matrix[start:start + block] @ matrix.T
        above = scores >= threshold
        crowded = np.count_nonzero(above, axis=1) > k + 1  # + the row itself
        if crowded.any():  # only these rows pay for a partial sort
            rows = np.flatnonzero(crowded)
            best = np.argpartition(-scores[rows], k, axis=1)[:, :k + 1]
            above[rows] = False
            above[rows[:, None], best] = scores[rows[:, None], best] >= threshold
        rows, cols = np.nonzero(above)
        keep = cols != rows + start
        rows, cols = rows[keep], cols[keep]
        for i, j, v in zip((rows + start).tolist(), cols.tolist(), scores[rows, cols].tolist()):
            found[min(i, j), max(i, j)] = v
        if progress:
            progress(min(start + block, n), n)
    return [(i, j, v) for (i, j), v in sorted(found.items())]


def neighbour_pairs(nearest: Nearest, blocks: Iterable[Vectors], fetch: Callable[[list[int]], Vectors],
                    threshold: float, k: int = NEIGHBOURS, total: int = 0,
                    progress: Callable[[int, int], None] | None = None) -> list[tuple[int, int, float]]:
    """(id, id, cosine) with the first id lower and cosine >= threshold, from each vector's k
    nearest in an approximate index, one block of vectors at a time: memory holds a block, the
    vectors its candidates need from outside it (`fetch`, by id) and the pairs found, never the
    library. A cluster larger than k still comes out whole, through chains of pairs (then cut
    around keeps)."""
    found: dict[tuple[int, int], float] = {}
    done = 0
    for ids, matrix in blocks:
        keys, scores = nearest(ids, matrix, k)
        rows, cols = np.nonzero(scores >= threshold - INDEX_SLACK)
        mine, others = ids[rows], keys[rows, cols]
        keep = (others >= 0) & (others != mine)
        rows, mine, others = rows[keep], mine[keep], others[keep]
        outside = np.setdiff1d(others, ids)
        fetched_ids, fetched = fetch(outside.tolist()) if len(outside) else (ids[:0], matrix[:0])
        known_ids = np.concatenate([ids, fetched_ids])
        known = np.concatenate([matrix, fetched]) if len(fetched_ids) else matrix
        order = np.argsort(known_ids)
        at = order[np.minimum(np.searchsorted(known_ids, others, sorter=order), len(order) - 1)]
        live = known_ids[at] == others  # a vector removed since the index was read has none
        rows, mine, others, at = rows[live], mine[live], others[live], at[live]
        exact = np.einsum("ij,ij->i", matrix[rows], known[at])  # from the catalog's float32 vectors
        passing = exact >= threshold
        low, high = np.minimum(mine, others)[passing], np.maximum(mine, others)[passing]
        found.update(zip(zip(low.tolist(), high.tolist()), exact[passing].tolist()))
        done += len(ids)
        if progress:
            progress(done, max(total, done))
    return [(i, j, v) for (i, j), v in sorted(found.items())]


def video_pairs(ids: np.ndarray, keys: dict[int, str], pairs: list[tuple[int, int, float]], matrix: np.ndarray,
                threshold: float, share: float = VIDEO_SHARE) -> list[tuple[int, int, float]]:
    """The pairs between pictures, and one pair for two videos whose frame sequences match: in
    time order, at least `share` of each one's kept frames pair off with frames of the other
    (the same footage re-encoded or resized), between their first frames' rows. A frame near a
    photo, or another frame of its own video, pairs nothing."""
    frames: dict[str, list[tuple[float, int]]] = {}
    for row, i in enumerate(ids):
        key = keys.get(int(i), "")
        span = frame_span(key)
        if span is not None:
            frames.setdefault(owner(key), []).append((span[0], row))
    rows = {video: [r for _, r in sorted(found)] for video, found in frames.items()}
    video_of = {r: video for video, found in rows.items() for r in found}
    out, candidates = [], set()
    for i, j, score in pairs:
        a, b = video_of.get(i), video_of.get(j)
        if a is None and b is None:
            out.append((i, j, score))
        elif a is not None and b is not None and a != b:
            candidates.add((min(a, b), max(a, b)))
    for a, b in sorted(candidates):
        need = share * max(len(rows[a]), len(rows[b]))
        if min(len(rows[a]), len(rows[b])) < need:
            continue  # too few frames on one side ever to pair off enough of the other's
        near = matrix[rows[a]] @ matrix[rows[b]].T >= threshold
        if min(np.count_nonzero(near.any(axis=1)), np.count_nonzero(near.any(axis=0))) < need:
            continue  # too few frames near any of the other's: no order can pair off enough
        if _in_order(near) >= need:
            out.append((rows[a][0], rows[b][0], float(matrix[rows[a][0]] @ matrix[rows[b][0]])))
    return out


def _in_order(near: np.ndarray) -> int:
    """How many frames of one video pair off with frames of the other, both in time order (the
    longest common subsequence of a boolean similarity matrix). One row at a time, in numpy: the
    match ending just before each column extended, or the row above, then carried rightwards
    (a running maximum), so two 600-frame videos cost 600 vector steps, not 360,000 Python ones."""
    best = np.zeros(near.shape[1] + 1, np.int64)
    for row in near:
        best[1:] = np.maximum.accumulate(np.maximum(best[1:], best[:-1] + row))
    return int(best[-1])


def groups_of(n: int, pairs: list[tuple[int, int, float]]) -> list[list[int]]:
    """Connected components (union-find) of the pairs, each with two or more rows."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    components: dict[int, list[int]] = {}
    for i in {k for p in pairs for k in p[:2]}:
        components.setdefault(root(i), []).append(i)
    return [sorted(c) for c in components.values() if len(c) > 1]


def near_duplicates(catalog: CatalogBackend, model: str, threshold: float = DEFAULT_THRESHOLD,
                    progress: Callable[[int, int], None] | None = None,
                    nearest: Nearest | None = None) -> list[Group]:
    """`nearest`: the catalog's approximate index, which makes this n log n instead of n², and
    its memory the duplicates' instead of the library's (the vectors are read a block at a time)."""
    check_threshold(threshold)
    if nearest is not None:
        found = neighbour_pairs(nearest, catalog.vector_blocks(model, BLOCK_ROWS),
                                lambda ids: catalog.vectors_for_ids(model, ids), threshold,
                                total=catalog.count_vectors(model), progress=progress)
        ids, keys, pairs, matrix = _gathered(catalog, model, found)
    else:  # an exact index: a catalog small enough to hold
        _, ids, matrix = catalog.vectors(model)
        pairs = similar_pairs(matrix, threshold, progress)
        keys = catalog.hashes_for_ids([int(i) for i in ids])
    pairs = video_pairs(ids, keys, pairs, matrix, threshold)
    components = groups_of(len(ids), pairs)
    hashes = {i: owner(keys[i]) for c in components for i in (int(ids[r]) for r in c) if i in keys}
    files = catalog.files_for_hashes(list(set(hashes.values())))  # one batch for every group
    videos = {r for r, i in enumerate(ids) if frame_span(keys.get(int(i), "")) is not None}
    paired = {(i, j): v for i, j, v in pairs}
    groups = []
    for component in components:
        rows = {hashes[int(ids[r])]: r for r in component if int(ids[r]) in hashes}
        candidates = [(row, ranked(files[h])) for h, row in rows.items() if files[h]]
        groups += _around_keeps(candidates, matrix, threshold, videos, paired)
    return sorted(groups, key=lambda g: -g.wasted_bytes)


def _gathered(catalog: CatalogBackend, model: str, found: list[tuple[int, int, float]]
              ) -> tuple[np.ndarray, dict[int, str], list[tuple[int, int, float]], np.ndarray]:
    """Only what the pairs found involve, as rows: their vectors, and every kept frame of the
    videos among them (videos pair off frame by frame): (ids, keys by id, pairs of rows, matrix)."""
    by_id = catalog.hashes_for_ids(sorted({i for p in found for i in p[:2]}))
    videos = sorted({owner(k) for k in by_id.values() if frame_span(k) is not None})
    wanted = sorted(set(by_id.values()).union(*(catalog.frame_keys(model, v) for v in videos)))
    vectors = catalog.vectors_of(model, wanted)
    keys = [k for k in wanted if k in vectors]
    row = {k: r for r, k in enumerate(keys)}
    matrix = np.stack([vectors[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
    pairs = sorted((min(row[a], row[b]), max(row[a], row[b]), v) for a, b, v in
                   ((by_id.get(i), by_id.get(j), v) for i, j, v in found) if a in row and b in row)
    return np.arange(len(keys), dtype=np.int64), dict(enumerate(keys)), pairs, matrix


def _around_keeps(candidates: list[tuple[int, list[dict]]], matrix: np.ndarray, threshold: float,
                  videos: set[int], paired: dict[tuple[int, int], float]) -> list[Group]:
    """A cluster of contents (a row and its files, best first) cut into groups: the best one left
    to keep, with every other content within the threshold of it (a video: only one whose frames
    pair off with the keep's), until fewer than two are left."""
    stems = stems_of([f for _, fs in candidates for f in fs])
    left = sorted(candidates, key=lambda c: keep_key(c[1][0], stems))
    groups = []
    while len(left) > 1:
        (keep_row, keep_files), others = left[0], left[1:]
        scores = matrix[[row for row, _ in others]] @ matrix[keep_row]
        inside, left = [], []
        for (row, fs), score in zip(others, scores.tolist()):
            pair = paired.get((min(row, keep_row), max(row, keep_row)))
            video = row in videos or keep_row in videos
            if (pair is not None) if video else score >= threshold:
                inside.append((fs, score if pair is None else pair))
            else:
                left.append((row, fs))
        if not inside:
            continue
        members = [_member(keep_files, 1.0), *(_member(fs, s) for fs, s in inside)]
        wasted = sum(m.size * (1 + len(m.copies)) for m in members) - members[0].size
        runner_up = ranked([f for fs, _ in inside for f in fs[:1]] + keep_files[1:2], stems)[0]
        groups.append(Group(members, wasted, reason(keep_files[0], runner_up, stems)))
    return groups


def _member(files: list[dict], score: float) -> Member:
    f, *copies = files
    return Member(f["path"], f["size"], f["width"], f["height"], [c["path"] for c in copies],
                  round(float(score), 4), f["id"])
