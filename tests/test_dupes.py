"""Near-duplicate pairs: the exact blockwise comparison, and the hnsw neighbour search against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from picfind.catalogs.sqlite.vectors import HnswIndex, IndexSettings
from picfind.search import dupes
from picfind.search.dupes import groups_of, neighbour_pairs, similar_pairs


def planted(n: int = 3000, copies: int = 60, dim: int = 64) -> tuple[np.ndarray, set[frozenset]]:
    rng = np.random.default_rng(0)
    m = rng.standard_normal((n, dim)).astype(np.float32)
    sources = rng.choice(n - copies, copies // 3, replace=False)
    for k, s in enumerate(np.repeat(sources, 3)):  # three near-copies of each source
        m[n - copies + k] = m[s] + rng.standard_normal(dim).astype(np.float32) * 0.05
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    groups = {frozenset([int(s), *range(n - copies + 3 * j, n - copies + 3 * j + 3)]) for j, s in enumerate(sources)}
    return m, groups


def test_blockwise_pairs_find_every_planted_group_in_small_blocks(monkeypatch) -> None:
    matrix, expected = planted()
    monkeypatch.setattr(dupes, "BLOCK_SCORES", 3000 * 7)  # 7 rows a block: block edges are crossed
    found = {frozenset(g) for g in groups_of(len(matrix), similar_pairs(matrix, 0.95))}
    assert found == expected


def _blocks(ids: np.ndarray, matrix: np.ndarray, size: int):
    """A catalog's `vector_blocks` and `vectors_for_ids` over arrays, with what was fetched counted."""
    fetched: list[int] = []

    def fetch(wanted: list[int]) -> tuple[np.ndarray, np.ndarray]:
        fetched.extend(wanted)
        inside = np.isin(ids, wanted)
        return ids[inside], matrix[inside]
    return [(ids[s:s + size], matrix[s:s + size]) for s in range(0, len(ids), size)], fetch, fetched


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_the_hnsw_path_finds_nearly_every_pair_with_exact_scores(dtype: str) -> None:
    matrix, expected = planted()
    ids = np.arange(100, 100 + len(matrix), dtype=np.int64)[::-1].copy()  # ids in no particular order
    index = HnswIndex.build(ids, matrix, 0, IndexSettings(dtype=dtype))
    exact = similar_pairs(matrix, 0.95)
    blocks, fetch, fetched = _blocks(ids, matrix, 700)  # neighbours outside a block are read by id
    row = {int(i): r for r, i in enumerate(ids)}
    approx = sorted((min(row[i], row[j]), max(row[i], row[j]), s)
                    for i, j, s in neighbour_pairs(index.nearest, blocks, fetch, 0.95))
    found, truth = {(i, j) for i, j, _ in approx}, {(i, j) for i, j, _ in exact}
    assert found <= truth and len(found) >= 0.95 * len(truth)  # approximate: may miss, never invents
    scores = {(i, j): s for i, j, s in exact}
    assert all(abs(s - scores[i, j]) < 1e-5 for i, j, s in approx)  # rescored exactly
    assert len({frozenset(g) for g in groups_of(len(matrix), approx)} & expected) >= 0.95 * len(expected)
    # the index's own scores drop far neighbours before their vectors are read (int8 too: cosines)
    assert len(fetched) < len(matrix) // 10


def test_near_duplicates_through_the_index_hold_a_block_not_the_library(tmp_path: Path, monkeypatch) -> None:
    """At 10M pictures the vectors are 20 GB: the walk reads them a block at a time (blocks of
    1,000 here, so that a few blocks are a fraction of this small library)."""
    import tracemalloc

    from picfind.catalogs.sqlite.backend import EmbeddedCatalog
    from picfind.records import IndexedFile

    matrix, expected = planted(n=30_000, copies=60, dim=256)
    catalog = EmbeddedCatalog(tmp_path / "c.db")
    root = catalog.add_root(str(tmp_path), ["jpg"], [])
    names = [f"{i:08x}" for i in range(len(matrix))]
    for h in names:  # on disk: groups list files that are there
        (tmp_path / f"{h}.jpg").touch()
    for s in range(0, len(names), 10_000):
        catalog.write_batch("m", [IndexedFile(str(tmp_path / f"{h}.jpg"), root.id, 1, 0, h, 8, 8)
                                  for h in names[s:s + 10_000]], dict(zip(names[s:s + 10_000], matrix[s:])), [])
    IndexSettings(backend="hnsw").save(catalog)
    catalog.sync_index("m")
    monkeypatch.setattr(dupes, "BLOCK_ROWS", 1000)
    tracemalloc.start()
    groups = dupes.near_duplicates(catalog, "m", 0.95, nearest=catalog.nearest("m"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    found = {frozenset(int(Path(m.path).stem, 16) for m in g.members) for g in groups}
    assert len(found & expected) >= 0.95 * len(expected)
    assert peak < matrix.nbytes / 3, f"{peak / 1e6:.0f} MB held for {matrix.nbytes / 1e6:.0f} MB of vectors"


def test_near_duplicates_then_a_text_search_in_one_fresh_process(tmp_path) -> None:
    """The web server's order: `dupes --near` opens the hnsw index (usearch) before any text was
    encoded; ONNX Runtime loaded after usearch crashed the process (a segmentation fault)."""
    import subprocess
    import sys

    from .conftest import picfind, write_shapes

    write_shapes(tmp_path / "lib", 12)
    db = str(tmp_path / "c.db")
    picfind("index", str(tmp_path / "lib"), "--db", db, "--ann", "hnsw", "--quiet", check=True)
    script = ("import sys\nfrom picfind.library import Library\nwith Library(sys.argv[1]) as lib:\n"
              "    lib.dupes(near=True)\n    print(len(lib.search('a red circle', n=3)))\n")
    proc = subprocess.run([sys.executable, "-c", script, db], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "3"


def _lcs(near: np.ndarray) -> int:
    """The longest common subsequence of a boolean matrix, cell by cell (the textbook recurrence)."""
    table = np.zeros((near.shape[0] + 1, near.shape[1] + 1), np.int64)
    for i in range(near.shape[0]):
        for j in range(near.shape[1]):
            table[i + 1, j + 1] = max(table[i, j + 1], table[i + 1, j], table[i, j] + near[i, j])
    return int(table[-1, -1])


def test_frame_sequences_pair_off_in_order_as_the_textbook_recurrence_says() -> None:
    rng = np.random.default_rng(4)
    for shape, density in [((1, 1), 0.5), ((7, 3), 0.3), ((30, 45), 0.1), ((60, 60), 0.5), ((12, 40), 0.02)]:
        near = rng.random(shape) < density
        assert dupes._in_order(near) == _lcs(near), (shape, density)


def test_only_videos_that_could_pair_off_enough_frames_are_compared_in_order(monkeypatch) -> None:
    """Bounds before the sequence comparison: a video with too few frames, or too few frames near
    any of the other's, cannot reach the share; only the re-encoded copy is compared in order."""
    rng = np.random.default_rng(5)

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, 64)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    a = unit(10)
    copy = a + rng.standard_normal(a.shape).astype(np.float32) * 0.01
    short = np.vstack([a[:1], unit(3)])  # opens like a: a candidate, but 4 frames against 10
    other = np.vstack([a[:1], unit(9)])  # opens like a, 10 frames, one near a's
    videos = {"a": a, "copy": copy / np.linalg.norm(copy, axis=1, keepdims=True), "short": short, "other": other}
    rows, keys = [], {}
    for name, frames in videos.items():
        for k, vec in enumerate(frames):
            keys[len(rows)] = f"{name}@{k * 2000}-{k * 2000 + 2000}"
            rows.append(vec)
    matrix = np.stack(rows)
    ids = np.arange(len(matrix), dtype=np.int64)
    compared: list[tuple[int, int]] = []
    real = dupes._in_order
    monkeypatch.setattr(dupes, "_in_order", lambda near: compared.append(near.shape) or real(near))
    pairs = dupes.video_pairs(ids, keys, similar_pairs(matrix, 0.9), matrix, 0.9)
    assert [(keys[i].split("@")[0], keys[j].split("@")[0]) for i, j, _ in pairs] == [("a", "copy")]
    assert compared == [(10, 10)]  # a against its copy only


def test_the_copy_kept_is_the_one_a_person_would_keep() -> None:
    """The first file indexed was kept: `IMG_0151 (1).MOV` over `IMG_0151.MOV`, a phone's
    `.trashed-…` file over the photo itself."""
    from picfind.search.keep import ranked, reason, stems_of

    def f(path: str, size: int = 100, w: int = 40, h: int = 30, mtime: float = 1.0) -> dict:
        return {"path": path, "size": size, "width": w, "height": h, "mtime": mtime}
    cases = [
        ([f("/p/IMG_0151 (1).MOV", mtime=0), f("/p/IMG_0151.MOV", mtime=5)], "/p/IMG_0151.MOV", "original name"),
        ([f("/p/DCIM/.trashed-1700000000-PXL_1.jpg", size=900, mtime=0), f("/p/DCIM/Camera/PXL_1.jpg")],
         "/p/DCIM/Camera/PXL_1.jpg", "trash"),
        ([f("/p/.thumbnails/a.jpg", w=4000), f("/p/a.jpg")], "/p/a.jpg", "hidden"),
        ([f("/p/b copy.jpg"), f("/p/b - Copy.jpg"), f("/p/b.jpg", mtime=9)], "/p/b.jpg", "original name"),
        ([f("/p/IMG_7-1.jpg"), f("/p/IMG_7.jpg", mtime=9)], "/p/IMG_7.jpg", "original name"),
        ([f("/p/small.jpg", w=10, size=900), f("/p/big.jpg", w=4000)], "/p/big.jpg", "pixels"),
        ([f("/p/x.jpg", size=10), f("/p/y.jpg", size=20)], "/p/y.jpg", "largest"),
        ([f("/p/new.jpg", mtime=9), f("/p/old.jpg", mtime=2)], "/p/old.jpg", "oldest"),
    ]
    for files, kept, why in cases:
        stems = stems_of(files)
        best, runner_up, *_ = ranked(files)
        assert best["path"] == kept and why in reason(best, runner_up, stems), files
    # IMG_12 is a name of its own, not a copy of "IMG" (no such file)
    assert ranked([f("/p/IMG_12.jpg", size=20), f("/p/IMG_13.jpg", size=10)])[0]["path"] == "/p/IMG_12.jpg"


@pytest.mark.parametrize("copy", [
    "IMG_9 Kopie", "IMG_9 Kopie 2", "IMG_9 copie", "IMG_9 - Copie", "IMG_9 copia", "IMG_9 - Cópia",
    "IMG_9 - Co\u0301pia", "IMG_9 kopia", "IMG_9 Kopia", "IMG_9 のコピー", "IMG_9 - コピー", "IMG_9 - 副本",
    "IMG_9 副本", "IMG_9 kopio", "IMG_9 копия", "Kopie von IMG_9", "Copie de IMG_9", "Copia de IMG_9"])
def test_copies_named_in_other_languages_are_copies(copy: str) -> None:
    """`IMG_9 Kopie.jpg` (a German Mac's copy) was kept over `IMG_9.jpg` for being older."""
    from picfind.search.keep import ranked, reason, stems_of

    files = [{"path": f"/p/{copy}.jpg", "size": 100, "width": 40, "height": 30, "mtime": 1.0},
             {"path": "/p/IMG_9.jpg", "size": 100, "width": 40, "height": 30, "mtime": 5.0}]
    best, runner_up = ranked(files)
    assert best["path"] == "/p/IMG_9.jpg" and "original name" in reason(best, runner_up, stems_of(files))


def test_every_keep_reason_reads_after_kept_because() -> None:
    """The CLI said "(kept for its original name (the others look like copies)):" and "(kept for
    not in a trash or hidden folder)"."""
    from picfind.search.keep import REASONS

    for why in REASONS:
        assert why.startswith("it") and "(" not in why and ")" not in why, why


def test_near_groups_never_chain_every_member_is_near_its_keep() -> None:
    """Look-alikes joined pair by pair made groups of 88 whose members scored 0.23 against the
    copy kept; each group is now cut around its keep, and every member is within the threshold."""
    step = np.arccos(0.95)  # each picture 0.95 from the next, 0.80 from the one after
    t = np.arange(6) * step
    matrix = np.zeros((6, 8), np.float32)
    matrix[:, 0], matrix[:, 1] = np.cos(t), np.sin(t)
    files = [[{"path": f"/p/{i}.jpg", "size": 10, "width": 4, "height": 4, "mtime": float(i), "id": i}]
             for i in range(6)]
    pairs = similar_pairs(matrix, 0.93)
    [component] = groups_of(6, pairs)
    assert len(component) == 6  # one chain...
    groups = dupes._around_keeps([(r, files[r]) for r in component], matrix, 0.93, set(),
                                 {(i, j): s for i, j, s in pairs})
    assert [[m.path for m in g.members] for g in groups] == [["/p/0.jpg", "/p/1.jpg"], ["/p/2.jpg", "/p/3.jpg"],
                                                             ["/p/4.jpg", "/p/5.jpg"]]  # ...cut around keeps
    assert all(m.score >= 0.93 for g in groups for m in g.members) and groups[0].keep_reason == "it is the oldest file"


def test_a_low_threshold_never_builds_every_pair() -> None:
    """`/api/dupes?near=1&threshold=-1` built all n² pairs (3 GB at 5,000 pictures): the threshold
    is bounded and each picture brings at most its nearest few."""
    rng = np.random.default_rng(1)
    matrix = np.ones((500, 16), np.float32) + rng.standard_normal((500, 16)).astype(np.float32) * 0.1
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)  # every picture like every other
    pairs = similar_pairs(matrix, 0.5)
    assert 500 <= len(pairs) <= 500 * dupes.NEIGHBOURS
    for bad in (-1, 0.2, 1.5):
        with pytest.raises(ValueError, match="out of range: use 0.5 to 1.0"):
            dupes.check_threshold(bad)


def test_dupes_keeps_the_original_and_refuses_a_loose_threshold_in_cli_and_api(tmp_path) -> None:
    import json
    import shutil

    from PIL import Image
    from starlette.testclient import TestClient

    from picfind.web import app as web

    from .conftest import picfind, shape_files

    lib = tmp_path / "Phone"
    lib.mkdir()
    original, bigger = shape_files("red", "circle", n=1, size=96)[0], shape_files("blue", "square", n=1, size=160)[0]
    original.save(lib / "IMG_0151.png")
    shutil.copy(lib / "IMG_0151.png", lib / "IMG_0151 (1).png")  # walked first: " " sorts before "."
    bigger.save(lib / "IMG_0200.png")
    bigger.resize((80, 80), Image.LANCZOS).save(lib / "IMG_0200 (1).png")  # smaller, and named as a copy
    db = str(tmp_path / "c.db")
    picfind("index", str(lib), "--db", db, "--quiet", check=True)
    [exact] = json.loads(picfind("dupes", "--db", db, "--json", check=True).stdout)
    assert Path(exact["members"][0]["path"]).name == "IMG_0151.png"
    assert exact["keep_reason"] == "it has the original name and the others are named as copies"
    text = picfind("dupes", "--db", db, check=True).stdout
    assert "(kept because it has the original name and the others are named as copies):" in text, text
    near = json.loads(picfind("dupes", "--near", "--threshold", "0.9", "--db", db, "--json", check=True).stdout)
    kept = {Path(g["members"][0]["path"]).name: g for g in near}
    assert "IMG_0200.png" in kept and kept["IMG_0200.png"]["members"][1]["score"] >= 0.9
    proc = picfind("dupes", "--near", "--threshold", "-1", "--db", db)
    assert proc.returncode == 2 and "use 0.5 to 1.0" in proc.stderr and proc.stderr.count("\n") == 1
    with TestClient(web.create_app(db, "tiny-shapes"), base_url="http://127.0.0.1") as client:
        bad = client.get("/api/dupes", params={"near": "1", "threshold": "-1"})
        assert bad.status_code == 400 and "use 0.5 to 1.0" in bad.json()["error"]
        assert client.get("/api/dupes", params={"near": "1", "threshold": "0.9"}).status_code == 200


def test_the_docs_clean_up_recipe_lists_every_file_but_the_one_to_keep(tmp_path: Path) -> None:
    """docs/guide/queries.md's `jq '.[].members[1:][].path'` left out the `copies` of each member
    (and of the one kept): files a clean-up script should have seen. The recipe, run by jq over
    real `dupes --json` and `dupes --near --json`, gives every file but the first member's."""
    import json
    import re
    import shutil
    import subprocess

    from PIL import Image

    from .conftest import picfind, shape_files

    page = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "queries.md").read_text(encoding="utf-8")
    [recipe] = re.findall(r"picfind dupes --near --json \| jq -r '([^']+)'", page)
    lib = tmp_path / "Phone"
    lib.mkdir()
    big = shape_files("blue", "square", n=1, size=160)[0]
    big.save(lib / "IMG_0200.png")
    shutil.copy(lib / "IMG_0200.png", lib / "IMG_0200 (1).png")  # an exact copy of the one kept
    big.resize((80, 80), Image.LANCZOS).save(lib / "small.png")  # a near copy...
    shutil.copy(lib / "small.png", lib / "small again.png")  # ...with its own exact copy
    db = str(tmp_path / "c.db")
    picfind("index", str(lib), "--db", db, "--quiet", check=True)
    for near in ([], ["--near", "--threshold", "0.9"]):
        groups = json.loads(picfind("dupes", *near, "--db", db, "--json", check=True).stdout)
        every = {p for g in groups for m in g["members"] for p in (m["path"], *m["copies"])}
        wanted = sorted(every - {g["members"][0]["path"] for g in groups})
        assert near == [] or any(g["members"][0]["copies"] for g in groups), groups  # the case the recipe missed
        if shutil.which("jq") is None:
            continue  # the recipe itself is run where jq is installed (apt-get install jq)
        listed = subprocess.run(["jq", "-r", recipe], input=json.dumps(groups), capture_output=True, text=True,
                                check=True).stdout.splitlines()
        assert sorted(listed) == wanted, (recipe, listed, wanted)
