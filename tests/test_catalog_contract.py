"""The catalog contract: one set of tests, run on a real SQLite file and on a real PostgreSQL
(the pgserver fixtures), through `CatalogBackend` alone. What one backend answers, the other must
answer too; where they differ by design (thumbnails written with the batch, leases between
indexers), the test says so."""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from picfind.catalogs.opening import open_catalog
from picfind.catalogs.protocol import CatalogBackend
from picfind.filters import Filter
from picfind.records import IndexedFile, Place, SkippedFile
from picfind.search.textsearch import text_matches

MODEL, OCR = "m", "ocr-m"
DIM = 16


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CatalogBackend]:
    target = str(tmp_path / "catalog.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = open_catalog(target)
    yield opened
    opened.close()


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


class Library:
    """Real files on disk (a catalog shows only files that still exist), with made-up contents."""

    def __init__(self, folder: Path, catalog: CatalogBackend) -> None:
        self.folder, self.catalog = folder, catalog
        self.root = catalog.add_root(str(folder), ["jpg", "png"], [])

    def file(self, name: str, content: str, width: int = 64, height: int = 48,
             taken_at: str | None = None) -> IndexedFile:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode())
        return IndexedFile(str(path), self.root.id, path.stat().st_size, path.stat().st_mtime_ns, content,
                           width, height, taken_at, "cam" if taken_at else None)

    def skipped(self, name: str, reason: str = "not an image") -> SkippedFile:
        path = self.folder / name
        path.write_bytes(b"?")
        return SkippedFile(str(path), self.root.id, 1, 7, reason, "detail")


@pytest.fixture()
def lib(catalog: CatalogBackend, tmp_path: Path) -> Library:
    return Library(tmp_path / "photos", catalog)


def test_the_files_under_some_paths_of_a_root(catalog: CatalogBackend, tmp_path: Path) -> None:
    """What a watcher asks after a change: the files at or under the changed paths, and no file of
    a sibling whose name merely begins the same ("a" is not "ab", nor "a b")."""
    root = catalog.add_root(str(tmp_path), ["jpg"], [])
    names = ["a/x.jpg", "a/b/y.jpg", "ab/z.jpg", "a b/w.jpg", "c.jpg"]
    catalog.write_batch(MODEL, [IndexedFile(str(tmp_path / n), root.id, 1, 2, n, 8, 8) for n in names],
                        {n: unit(k) for k, n in enumerate(names)}, [])

    def under(*paths: str) -> set[str]:
        found = catalog.files_of_root(root.id, [str(tmp_path / q) for q in paths])
        return {os.path.relpath(p, tmp_path) for p in found}
    assert under("a") == {"a/x.jpg", "a/b/y.jpg"}
    assert under("a/b", "c.jpg") == {"a/b/y.jpg", "c.jpg"}
    assert under("a/", "nowhere") == {"a/x.jpg", "a/b/y.jpg"} and under() == set()
    assert len(catalog.files_of_root(root.id)) == 5


def test_a_rescan_reads_sizes_and_times_and_the_few_files_with_something_left_to_do(
        catalog: CatalogBackend, tmp_path: Path) -> None:
    """What a re-scan compares with the walk (`indexing.rescan`): every file's size and time by its
    path's bytes, and those the catalog says must be read though unchanged: no vector for the
    model (a video with its frames' has one), no text read when OCR is asked, a skip worth a
    new try; never a settled picture or a skip for good."""
    from picfind.records import frame_key
    root = catalog.add_root(str(tmp_path), ["jpg", "mp4"], [])
    names = ["done.jpg", "other-model.jpg", "video.mp4", "no-text.jpg"]
    files = [IndexedFile(str(tmp_path / n), root.id, 10 + k, 20 + k, n, 8, 8) for k, n in enumerate(names)]
    catalog.write_batch(MODEL, files, {"done.jpg": unit(0), "no-text.jpg": unit(1),
                                       frame_key("video.mp4", 0, 2): unit(2)}, [])
    catalog.write_batch("another", [], {"other-model.jpg": unit(3)}, [])
    catalog.write_batch(MODEL, [], {}, [SkippedFile(str(tmp_path / "gone.jpg"), root.id, 5, 6, "vanished"),
                                        SkippedFile(str(tmp_path / "bad.jpg"), root.id, 7, 8, "not an image")])
    catalog.put_texts(OCR, {"done.jpg": "STOP", "video.mp4": "", "other-model.jpg": ""})
    sizes = catalog.sizes_of_root(root.id)
    assert {os.fsdecode(k): (v[1], v[2]) for k, v in sizes.items()} == {
        **{str(tmp_path / n): (10 + k, 20 + k) for k, n in enumerate(names)},
        str(tmp_path / "gone.jpg"): (5, 6), str(tmp_path / "bad.jpg"): (7, 8)}
    assert all(k == v[0] for k, v in sizes.items())

    def unsettled(analyses: list[tuple[str, str]], under: list[str] | None = None) -> set[str]:
        rows = catalog.unsettled_of_root(root.id, under, MODEL, analyses, {"vanished"})
        return {os.path.basename(os.fsdecode(k)) for k in rows}
    assert unsettled([]) == {"other-model.jpg", "gone.jpg"}
    assert unsettled([("texts", OCR)]) == {"other-model.jpg", "gone.jpg", "no-text.jpg"}
    assert unsettled([("texts", OCR)], [str(tmp_path / "no-text.jpg"), str(tmp_path / "done.jpg")]) == {"no-text.jpg"}


def test_roots_are_added_listed_nested_and_removed(catalog: CatalogBackend, tmp_path: Path) -> None:
    outer = catalog.add_root(str(tmp_path / "a"), ["jpg"], ["*.tmp"])
    assert (outer.path, outer.extensions, outer.excludes) == (str(tmp_path / "a"), ["jpg"], ["*.tmp"])
    again = catalog.add_root(str(tmp_path / "a"), ["jpg", "png"], [])  # added again: its settings change
    assert again.id == outer.id and again.extensions == ["jpg", "png"]
    file = tmp_path / "a" / "b" / "x.jpg"
    catalog.write_batch(MODEL, [IndexedFile(str(file), outer.id, 1, 2, "x", 8, 8)], {"x": unit(0)}, [])
    inner = catalog.add_root(str(tmp_path / "a" / "b"), ["jpg"], [])  # takes over the files under it
    assert [r.path for r in catalog.roots()] == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert list(catalog.files_of_root(inner.id)) == [str(file)] and catalog.files_of_root(outer.id) == {}
    assert catalog.remove_root(str(inner.path)) == 0  # its file goes back to the outer root
    assert list(catalog.files_of_root(outer.id)) == [str(file)]
    assert catalog.remove_root(str(tmp_path / "nowhere")) == -1
    assert catalog.remove_root(str(outer.path)) == 1 and catalog.roots() == []
    assert catalog.embedded_hashes(MODEL) == {"x"}  # vectors stay until pruned


def test_a_batch_writes_files_vectors_and_skips(catalog: CatalogBackend, lib: Library) -> None:
    a, b, copy = lib.file("a.jpg", "ha", 640, 480, "2021-05-01 10:00:00"), lib.file("b.png", "hb"), lib.file(
        "sub/copy.jpg", "ha")
    bad = lib.skipped("bad.jpg")
    catalog.write_batch(MODEL, [a, b, copy], {"ha": unit(1), "hb": unit(2)}, [bad])
    files = catalog.files_of_root(lib.root.id)
    assert sorted(files) == sorted([a.path, b.path, copy.path, bad.path])
    assert (files[a.path].status, files[a.path].content_hash, files[a.path].size) == ("ok", "ha", a.size)
    assert files[a.path].meta_read and files[a.path].mtime_ns == a.mtime_ns
    assert (files[bad.path].status, files[bad.path].content_hash, files[bad.path].reason) == \
        ("skipped", None, "not an image")
    assert catalog.embedded_hashes(MODEL) == {"ha", "hb"} and catalog.embedded_hashes("other") == set()
    assert catalog.count_vectors(MODEL) == 2 and catalog.repeated_contents() == ["ha"]
    assert np.allclose(catalog.vector_of(MODEL, "hb"), unit(2), atol=1e-6)
    assert catalog.vector_of(MODEL, "nothing") is None
    assert catalog.skipped_files() == [{"path": bad.path, "reason": "not an image", "detail": "detail"}]
    found = catalog.files_for_hashes(["ha", "hb", "hc"])
    assert [f["path"] for f in found["ha"]] == [a.path, copy.path] and found["hc"] == []  # oldest entry first
    first = found["ha"][0]
    assert (first["width"], first["height"], first["taken"], first["camera"], first["size"]) == \
        (640, 480, "2021-05-01 10:00:00", "cam", a.size)
    assert catalog.file_by_id(first["id"]) == {"path": a.path, "content_hash": "ha", "size": a.size,
                                               "mtime_ns": a.mtime_ns, "duration": None}
    assert catalog.file_by_id(10**12) is None and catalog.file_by_id(-1) is None and catalog.file_by_id(2**70) is None

    # the same file read again, now unreadable: a skipped row, no content; a vanished file: gone
    catalog.write_batch(MODEL, [], {}, [SkippedFile(b.path, lib.root.id, 1, 7, "unreadable", "io")], [copy.path])
    files = catalog.files_of_root(lib.root.id)
    assert copy.path not in files and (files[b.path].status, files[b.path].content_hash) == ("skipped", None)
    assert catalog.repeated_contents() == []


def test_odd_names_round_trip_and_a_removed_roots_files_are_dropped(catalog: CatalogBackend, lib: Library,
                                                                    tmp_path: Path) -> None:
    odd = os.fsdecode(os.fsencode(str(lib.folder)) + b"/caf\xe9 100%_x.jpg")  # not UTF-8: a Latin-1 name
    lib.folder.mkdir(parents=True, exist_ok=True)
    Path(odd).write_bytes(b"odd")
    file = IndexedFile(odd, lib.root.id, 3, 1, "ho", 8, 8)
    catalog.write_batch(MODEL, [file], {"ho": unit(5)}, [])
    assert list(catalog.files_of_root(lib.root.id)) == [odd]
    assert [f["path"] for f in catalog.files_for_hashes(["ho"])["ho"]] == [odd]
    assert _search(catalog, unit(5), 1, Filter.of(folders=[str(lib.folder)])) == ["ho"]
    # a root removed while a run read its files: the run's batch drops them, without an error
    other = catalog.add_root(str(tmp_path / "gone"), ["jpg"], [])
    assert catalog.remove_root(other.path) == 0
    late = IndexedFile(str(tmp_path / "gone" / "x.jpg"), other.id, 1, 1, "hx", 8, 8)
    catalog.write_batch(MODEL, [late], {}, [SkippedFile(late.path, other.id, 1, 1, "vanished")])
    assert catalog.stats(MODEL)["files_seen"] == 1


def test_status_counts_agree(catalog: CatalogBackend, lib: Library) -> None:
    files = [lib.file("a.jpg", "ha", taken_at="0999-05-06 07:08:09"), lib.file("b.jpg", "ha"), lib.file("c.jpg", "hc")]
    catalog.write_batch(MODEL, files, {"ha": unit(1), "hc": unit(3)}, [lib.skipped("d.jpg"), lib.skipped("e.jpg")])
    catalog.write_batch("other", [], {"hc": unit(4)}, [lib.skipped("f.jpg", "file too large")])
    assert catalog.stats(MODEL) == {
        "pictures": 2, "videos": 0, "moments": 0,  # copies once (issue 28: one count everywhere)
        "files_seen": 6, "images_indexed": 3, "unique_contents": 2, "duplicate_copies": 1,
        "embedded_with_model": 2, "with_position": 0, "skipped": 3,
        "skipped_by_reason": {"not an image": 2, "file too large": 1}, "offline": [],
        "dates_before_1826": 1}  # a clock never set (issue 23)
    assert catalog.stats("other")["embedded_with_model"] == 1
    assert catalog.indexed_model() == MODEL  # none recorded: the model of most vectors
    catalog.set_setting("model", "other")
    assert catalog.indexed_model() == "other" and catalog.setting("nope", "default") == "default"
    catalog.set_setting("model", "again")  # a setting is replaced, not added
    assert catalog.setting("model", "") == "again"
    assert catalog.size_bytes() > 0


def test_places_are_stored_read_back_and_filtered_alike(catalog: CatalogBackend, lib: Library) -> None:
    from dataclasses import replace

    lyon = Place("Lyon 01", "Auvergne-Rhône-Alpes", "France", "FR", "Rhône")
    files = [replace(lib.file("lyon.jpg", "hl"), lat=45.764, lon=4.8357, place=lyon),
             replace(lib.file("bron.jpg", "hb"), lat=45.7386, lon=4.9132, place=lyon),  # 6.7 km away
             lib.file("nowhere.jpg", "hn")]
    catalog.write_batch(MODEL, files, {h: unit(i) for i, h in enumerate(("hl", "hb", "hn"))}, [])
    found = catalog.files_for_hashes(["hl", "hn"])
    assert {k: found["hl"][0][k] for k in ("lat", "lon", "place")} == {
        "lat": 45.764, "lon": 4.8357, "place": "Lyon 01, Auvergne-Rhône-Alpes, France"}
    assert (found["hn"][0]["lat"], found["hn"][0]["place"]) == (None, None)
    assert catalog.stats(MODEL)["with_position"] == 2
    for where, passing in ((Filter.of(place="lyon"), 2), (Filter.of(place="RHONE"), 2), (Filter.of(place="fr"), 2),
                           (Filter(place="lyo"), 0), (Filter.of(near="45.764,4.8357,5"), 1),
                           (Filter.of(near="45.764,4.8357,7"), 2), (Filter.of(near="0,0,20100"), 2)):
        assert catalog.count_matching(where) == passing, where


def test_claims_give_fresh_contents_and_travel_to_another_process(catalog: CatalogBackend) -> None:
    claims = catalog.claims()
    assert claims.claim(MODEL, ["x", "y"]) == {"x", "y"}
    assert claims.claim(MODEL, ["x"]) == {"x"}  # the holder's own claim, asked again
    assert claims.claim(MODEL, []) == set()
    copy = pickle.loads(pickle.dumps(claims))  # as sent to a Ray worker: opens what it needs there
    fresh = copy.claim(MODEL, ["x", "z"])
    assert "z" in fresh and fresh <= {"x", "z"}  # a shared catalog's leases keep x to its holder


def test_files_under_an_unreachable_place_go_offline_and_come_back(catalog: CatalogBackend, lib: Library) -> None:
    kept, away = lib.file("home/a.jpg", "ha"), lib.file("usb/b.jpg", "hb")
    catalog.write_batch(MODEL, [kept, away], {"ha": unit(1), "hb": unit(2)}, [])
    usb = str(lib.folder / "usb")
    catalog.mark_offline(lib.root.id, {usb: [away.path]})
    catalog.mark_offline(lib.root.id, {usb: [away.path]})  # a second run that misses it: still since the first
    [place] = catalog.offline_places()
    assert (place["path"], place["files"]) == (usb, 1) and place["since"] > 0
    assert catalog.stats(MODEL)["offline"] == [place]
    assert catalog.files_for_hashes(["ha", "hb"]) == {"ha": catalog.files_for_hashes(["ha"])["ha"], "hb": []}
    assert catalog.files_of_root(lib.root.id)[away.path].status == "ok"  # kept, not gone
    assert catalog.embedded_hashes(MODEL) == {"ha", "hb"} and catalog.prune_embeddings() == []
    hits = _search(catalog, unit(2), 5)
    assert "hb" not in hits and "ha" in hits

    catalog.mark_offline(lib.root.id, {})  # read again: back, nothing re-embedded
    assert catalog.offline_places() == []
    assert [f["path"] for f in catalog.files_for_hashes(["hb"])["hb"]] == [away.path]
    assert _search(catalog, unit(2), 5)[0] == "hb"
    catalog.mark_offline(lib.root.id, {usb: [away.path]})
    assert catalog.remove_root(str(lib.folder)) == 2  # its offline places go with it
    assert catalog.offline_places() == [] and catalog.stats(MODEL)["offline"] == []


def test_file_by_id_of_an_offline_file_is_not_served(catalog: CatalogBackend, lib: Library) -> None:
    away = lib.file("usb/b.jpg", "hb")
    catalog.write_batch(MODEL, [away], {"hb": unit(2)}, [])
    file_id = catalog.files_for_hashes(["hb"])["hb"][0]["id"]
    catalog.mark_offline(lib.root.id, {str(lib.folder / "usb"): [away.path]})
    assert catalog.file_by_id(file_id) is None  # as search, which never shows it
    catalog.mark_offline(lib.root.id, {})
    assert catalog.file_by_id(file_id)["path"] == away.path


def test_prune_drops_the_vectors_texts_no_file_holds(catalog: CatalogBackend, lib: Library) -> None:
    a, b = lib.file("a.jpg", "ha"), lib.file("b.jpg", "hb")
    catalog.write_batch(MODEL, [a, b], {"ha": unit(1), "hb": unit(2)}, [])
    catalog.write_batch("other", [], {"ha": unit(3)}, [])
    catalog.put_texts(OCR, {"ha": "STOP", "hb": "exit"})
    assert catalog.prune_embeddings() == []
    catalog.write_batch(MODEL, [], {}, [], [a.path])
    assert sorted(catalog.prune_embeddings()) == ["ha"]  # both models' vectors: one content
    assert catalog.embedded_hashes(MODEL) == {"hb"} and catalog.embedded_hashes("other") == set()
    assert catalog.texts_read(OCR) == {"hb"}
    assert catalog.prune_embeddings() == []


def _search(catalog: CatalogBackend, query: np.ndarray, k: int, where: Filter | None = None) -> list[str]:
    """Contents best first with a file passing `where` (the searcher's candidates re-checked, as
    `search.ranking` does)."""
    found, _ = catalog.searcher(MODEL, where).top(query, k)
    files = catalog.files_for_hashes([h for h, _ in found], where)
    return [h for h, _ in found if files[h]]


def test_search_ranks_by_cosine_with_and_without_a_filter(catalog: CatalogBackend, lib: Library) -> None:
    vectors = {f"h{i}": unit(10 + i) for i in range(12)}
    files = [lib.file(f"{'2019' if i % 2 else '2023'}/p{i}.{'png' if i % 3 == 0 else 'jpg'}", f"h{i}",
                      width=100 * (i + 1), height=80, taken_at=f"{2019 if i % 2 else 2023}-06-01 12:00:00")
             for i in range(12)]
    catalog.write_batch(MODEL, files, vectors, [])
    catalog.sync_index(MODEL)
    catalog.open_index(MODEL)
    query = unit(10 + 5)
    expected = sorted(vectors, key=lambda h: -float(vectors[h] @ query))
    found, exhausted = catalog.searcher(MODEL, None).top(query, 4)
    assert 4 <= len(found) <= 5 and not exhausted  # "about k"
    found = found[:4]
    assert [h for h, _ in found] == expected[:4]
    assert found[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in found] == pytest.approx([float(vectors[h] @ query) for h in expected[:4]], abs=1e-5)
    everything, exhausted = catalog.searcher(MODEL, None).top(query, 50)
    assert [h for h, _ in everything] == expected and exhausted

    def passing(where: Filter) -> list[str]:
        return _search(catalog, query, 50, where)

    odd = [f"h{i}" for i in range(12) if i % 2]
    assert passing(Filter.of(folders=[str(lib.folder / "2019")])) == [h for h in expected if h in odd]
    assert passing(Filter.of(after="2020")) == [h for h in expected if h not in odd]
    assert passing(Filter.of(before="2020")) == [h for h in expected if h in odd]
    assert passing(Filter.of(extensions="png")) == [h for h in expected if int(h[1:]) % 3 == 0]
    assert passing(Filter.of(min_width=900)) == [h for h in expected if int(h[1:]) >= 8]
    assert passing(Filter.of(folders=[str(lib.folder / "nowhere")])) == []
    assert catalog.searcher("no-such-model", None).top(query, 5) == ([], True)


def test_filters_take_folder_names_literally_and_fall_back_to_file_times(catalog: CatalogBackend,
                                                                           lib: Library) -> None:
    names = {"h1": "a_b/1.jpg", "h2": "axb/2.jpg", "h3": "a_b2/3.jpg", "h4": "100%/UP.JPG", "h5": "old/5.jpeg"}
    files = {h: lib.file(name, h) for h, name in names.items()}
    old = 1_420_110_000 * 10**9  # 2015-01-01: no capture time, so the file time decides
    os.utime(files["h5"].path, ns=(old, old))
    files["h5"] = IndexedFile(files["h5"].path, lib.root.id, files["h5"].size, old, "h5", 8, 8)
    catalog.write_batch(MODEL, list(files.values()), {h: unit(i) for i, h in enumerate(names)}, [])

    def passing(where: Filter) -> set[str]:
        return set(_search(catalog, unit(0), 10, where))

    assert passing(Filter.of(folders=[str(lib.folder / "a_b")])) == {"h1"}  # not axb, not a_b2
    assert passing(Filter.of(folders=[str(lib.folder / "100%")])) == {"h4"}
    assert passing(Filter.of(extensions="jpg")) == {"h1", "h2", "h3", "h4"}  # UP.JPG too, not .jpeg
    assert passing(Filter.of(before="2016")) == {"h5"}
    assert passing(Filter.of(after="2016", folders=[str(lib.folder / "old"), str(lib.folder / "axb")])) == {"h2"}
    # a folder left out (a drive not connected): literally too, and with the other conditions
    assert passing(Filter().without([str(lib.folder / "a_b"), str(lib.folder / "100%")])) == {"h2", "h3", "h5"}
    assert passing(Filter.of(extensions="jpg").without([str(lib.folder / "axb")])) == {"h1", "h3", "h4"}


def test_nearest_neighbours_agree_with_exact_cosine(catalog: CatalogBackend, lib: Library) -> None:
    vectors = {f"h{i}": unit(i) for i in range(30)}
    vectors["twin"] = (vectors["h3"] + 0.01 * unit(99)) / np.linalg.norm(vectors["h3"] + 0.01 * unit(99))
    catalog.write_batch(MODEL, [lib.file(f"{h}.jpg", h) for h in vectors], vectors, [])
    try:
        catalog.choose_index("hnsw")  # the embedded catalog's approximate index; PostgreSQL always has one
    except Exception as e:  # noqa: BLE001 - PostgreSQL refuses --ann in one line
        assert "PostgreSQL" in str(e)
    catalog.sync_index(MODEL)
    nearest = catalog.nearest(MODEL)
    assert nearest is not None
    _, ids, matrix = catalog.vectors(MODEL)
    assert len(ids) == len(vectors) == catalog.count_vectors(MODEL) and matrix.shape == (len(vectors), DIM)
    hashes = catalog.hashes_for_ids(ids.tolist())
    assert sorted(hashes.values()) == sorted(vectors)
    keys, scores = nearest(ids, matrix, 2)
    by_id = dict(zip(hashes.values(), hashes.keys()))
    row = list(ids).index(by_id["h3"])
    assert hashes[int(keys[row][0])] == "h3" and hashes[int(keys[row][1])] == "twin"
    assert scores[row][1] == pytest.approx(float(vectors["h3"] @ vectors["twin"]), abs=1e-3)


def test_texts_are_put_and_read_back_and_a_word_held_is_found(catalog: CatalogBackend) -> None:
    catalog.put_texts(OCR, {"ha": "Gate 12 BOARDING", "hb": "", "hc": "exit only"})
    catalog.put_texts(OCR, {"ha": "something else"})  # read twice (two indexers): the first stays
    assert catalog.texts_read(OCR) == {"ha", "hb", "hc"} and catalog.texts_read("other") == set()
    assert catalog.texts_of(OCR, ["ha", "hb", "zz"]) == {"ha": "Gate 12 BOARDING"}  # those holding some
    assert catalog.count_texts(OCR) == (3, 2)
    assert "ha" in catalog.text_candidates(OCR, ["boarding"])
    assert "ha" not in catalog.text_candidates(OCR, ["boarding", "exit"])  # a candidate may hold every word
    found = text_matches(catalog, OCR, ["boarding", "exit"])  # the shared matcher: one of two is a partial match
    assert found["ha"][1].words == ["boarding"] and found["hc"][1].words == ["exit"]


def _jpeg(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(out, "JPEG")
    return out.getvalue()


def test_thumbnails_are_stored_loaded_and_removed(catalog: CatalogBackend, lib: Library) -> None:
    thumbs = catalog.thumbnails
    red = _jpeg("red")
    thumbs.store("ha", red)
    # PostgreSQL writes a thumbnail with the batch of its file; SQLite at once: after the batch, both
    catalog.write_batch(MODEL, [lib.file("a.jpg", "ha")], {"ha": unit(1)}, [])
    assert thumbs.jpeg("ha", lambda: None) == red
    assert thumbs.size_bytes() >= len(red)
    thumbs.remove(["ha"])
    assert thumbs.jpeg("ha", lambda: None) is None  # none stored, and the picture cannot be read
    made = thumbs.jpeg("ha", lambda: _jpeg("blue"))  # made now from the picture's bytes, and kept
    assert made is not None and Image.open(io.BytesIO(made)).getpixel((0, 0))[2] > 200
    assert thumbs.jpeg("ha", lambda: None) == made
    assert thumbs.jpeg("hz", lambda: b"not a picture") is None
    thumbs.store("hb", red[:len(red) // 2])  # stored broken (a torn write, a bad disk)
    catalog.write_batch(MODEL, [lib.file("b.jpg", "hb")], {"hb": unit(2)}, [])
    remade = thumbs.jpeg("hb", lambda: _jpeg("blue"))  # never served: made again from the picture
    assert remade is not None and Image.open(io.BytesIO(remade)).getpixel((16, 12))[2] > 200
    assert thumbs.jpeg("hb", lambda: None) == remade


def test_a_videos_frames_are_stored_found_filtered_and_pruned_with_it(catalog: CatalogBackend, lib: Library) -> None:
    from dataclasses import replace

    from picfind.records import frame_key

    video = replace(lib.file("clip.mp4", "hv"), duration=12.0)
    photo = lib.file("a.jpg", "ha")
    keys = [frame_key("hv", 0, 4), frame_key("hv", 4, 9.5), frame_key("hv", 9.5, 12)]
    catalog.write_batch(MODEL, [video, photo], {keys[0]: unit(1), keys[1]: unit(2), keys[2]: unit(3),
                                                "ha": unit(4)}, [])
    assert catalog.embedded_hashes(MODEL) == {"hv", "ha"}  # a video with frames is embedded
    assert catalog.frame_keys(MODEL, "hv") == keys and catalog.frame_keys(MODEL, "ha") == []
    assert catalog.stats(MODEL)["embedded_with_model"] == 2
    found = catalog.files_for_hashes(["hv", "ha"])
    assert found["hv"][0]["duration"] == 12.0 and found["ha"][0]["duration"] is None
    assert catalog.file_by_id(found["hv"][0]["id"])["duration"] == 12.0
    top, _ = catalog.searcher(MODEL, None).top(unit(2), 2)
    assert top[0][0] == keys[1]  # a frame is found like a picture
    for kind, expected in (("video", set(keys)), ("image", {"ha"})):
        hits, _ = catalog.searcher(MODEL, Filter(kind=kind)).top(unit(2), 10)
        assert {h for h, _ in hits} == expected, kind
    catalog.write_batch(MODEL, [], {}, [], gone=[video.path])
    assert set(catalog.prune_embeddings()) == {*keys, "hv"}  # its frames, and its own thumbnail's key
    assert catalog.embedded_hashes(MODEL) == {"ha"} and catalog.frame_keys(MODEL, "hv") == []


def test_has_vectors_and_a_scoped_prune_read_only_the_contents_named(catalog: CatalogBackend, lib: Library) -> None:
    """What an index run asks instead of reading every hash (issue 30): which of these contents
    have vectors (a video: its frames'), and, after a watcher's batch, which of its departed
    contents lost their last file: those alone are pruned, with their frames and texts."""
    from dataclasses import replace

    from picfind.records import frame_key

    video = replace(lib.file("clip.mp4", "hv"), duration=4.0)
    a, b, c = lib.file("a.jpg", "ha"), lib.file("b.jpg", "hb"), lib.file("c.jpg", "hc")
    frame = frame_key("hv", 0, 4)
    catalog.write_batch(MODEL, [video, a, b, c], {frame: unit(1), "ha": unit(2), "hb": unit(3), "hc": unit(4)}, [])
    catalog.put_texts(OCR, {frame: "STOP", "ha": "exit", "hb": "", "hc": ""})
    assert catalog.has_vectors(MODEL, ["hv", "ha", "nope"]) == {"hv", "ha"}
    assert catalog.has_vectors("other", ["ha"]) == set()
    known = catalog.known_contents(MODEL)
    known.prefetch(["ha", None])
    assert "hv" in known and "hb" in known and "nope" not in known and None not in known
    known.add("nope")
    assert "nope" in known and known.among(["x", "hv", "ha", "hb", "hc", "nope"]) == ["hv", "ha", "hb", "hc", "nope"]

    catalog.write_batch(MODEL, [], {}, [], gone=[video.path, a.path, b.path])
    assert sorted(catalog.prune_embeddings(["hv", "ha", "hc"])) == sorted([frame, "ha", "hv"])  # hb: not named
    assert catalog.embedded_hashes(MODEL) == {"hb", "hc"}
    assert catalog.texts_read(OCR) == {"hb", "hc"}
    assert catalog.prune_embeddings([]) == [] and catalog.prune_embeddings() == ["hb"]


def test_thumbnail_bytes_are_exact_when_few_and_estimated_from_a_sample_when_many(tmp_path: Path, monkeypatch) -> None:
    """`status` at 10M thumbnails must not stat every one: past a sample it scales the folders read."""
    from picfind.catalogs.sqlite import thumbs

    cache = thumbs.ThumbnailCache(tmp_path / "t")
    for i in range(2000):
        cache.store(f"{i * 7919 % 65536:04x}{i:060x}", b"\xff\xd8" + b"x" * (100 + i % 50) + b"\xff\xd9")
    exact = sum(p.stat().st_size for p in (tmp_path / "t").rglob("*.jpg"))
    assert cache.size_bytes() == exact
    monkeypatch.setattr(thumbs, "SIZE_SAMPLE", 100)
    assert abs(cache.size_bytes() - exact) < 0.2 * exact
