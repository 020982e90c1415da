"""End to end against both catalogs: the embedded SQLite file and a real PostgreSQL with pgvector
(the pgserver wheel). The same commands, the same answers."""

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
import uuid
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from picfind.cli import main
from picfind.web import app as web

from .conftest import picfind, shape_files, write_shapes

pytestmark = pytest.mark.slow
KINDS = (("red", "circle"), ("blue", "square"), ("green", "triangle"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path: Path) -> str:
    """A `--db` value: a new SQLite file or a new PostgreSQL database."""
    return str(tmp_path / "c.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    lib = tmp_path / "Pictures"
    for seed, (colour, shape) in enumerate(KINDS):
        folder = lib / f"{colour}-{shape}s"
        folder.mkdir(parents=True)
        for i, img in enumerate(shape_files(colour, shape, n=3, seed=seed, size=160 if seed else 200)):
            img.save(folder / f"{colour}-{shape}-{i}.{'png' if i else 'jpg'}")
    return lib


def run(*args: str, db: str) -> str:
    """The real CLI, in this process (a new interpreter per command would cost seconds each)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--db", db])
    assert code == 0, f"picfind {' '.join(args)} exited {code}"
    return out.getvalue()


def run_json(*args: str, db: str) -> dict | list:
    return json.loads(run(*args, "--json", db=db))


def names(hits: list[dict]) -> list[str]:
    return [Path(h["path"]).name for h in hits]


def files_committed(db: str) -> int:
    try:
        if db.startswith("postgresql://"):
            with psycopg.connect(db) as con:
                return con.execute("SELECT count(*) FROM files").fetchone()[0]
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT count(*) FROM files").fetchone()[0]
    except (psycopg.Error, sqlite3.Error):
        return 0  # not created yet


def test_every_command_answers_the_same_on_both_catalogs(db: str, library: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_json("index", str(library), db=db)
    assert report["embedded"] == 9 and not report["skipped"]
    hits = run_json("search", "a red circle", "-n", "3", db=db)
    assert all(n.startswith("red-circle") for n in names(hits))
    assert hits[0]["width"] == 200 and hits[0]["id"] > 0
    like = run_json("similar", str(library / "blue-squares" / "blue-square-1.png"), "-n", "2", db=db)
    assert all(n.startswith("blue-square") for n in names(like)) and "blue-square-1.png" not in names(like)
    combined = run_json("search", "a red circle", "-", "a blue square", "-n", "3", db=db)
    assert all(n.startswith("red-circle") for n in names(combined))
    monkeypatch.setattr("sys.stdin", io.StringIO("a green triangle -n 2\nexit\n"))
    shell = run("shell", db=db).splitlines()
    assert len(shell) == 2 and all("green-triangle" in line for line in shell)

    # filters, evaluated by each catalog's own SQL
    inside = run_json("search", "a red circle", "-n", "20", "--in", str(library / "green-triangles"), db=db)
    assert names(inside) and all(n.startswith("green-triangle") for n in names(inside))
    assert {Path(n).suffix for n in names(run_json("search", "a shape", "-n", "20", "--ext", "jpg", db=db))} == {".jpg"}
    assert len(run_json("search", "a shape", "-n", "20", "--min-width", "200", db=db)) == 3
    assert run_json("search", "a shape", "-n", "20", "--before", "2000", db=db) == []
    assert len(run_json("search", "a shape", "-n", "20", "--after", "2000", db=db)) == 9

    st = run_json("status", db=db)
    assert st["images_indexed"] == 9 and st["embedded_with_model"] == 9 and st["unique_contents"] == 9
    assert [r["path"] for r in run_json("roots", db=db)] == [str(library)]

    # copies: exact and near
    shutil.copy(library / "red-circles" / "red-circle-1.png", library / "copy.png")
    shape_files("red", "circle", n=1, seed=0, size=200)[0].resize((150, 150)).save(library / "smaller.png")
    again = run_json("index", db=db)
    assert again["embedded"] == 1 and again["reused"] == 1 and again["unchanged"] == 9
    exact = run_json("dupes", db=db)
    assert [sorted(Path(m["path"]).name for m in g["members"]) for g in exact] == [["copy.png", "red-circle-1.png"]]
    near = run_json("dupes", "--near", "--threshold", "0.98", db=db)
    assert any("smaller.png" in {Path(m["path"]).name for m in g["members"]} for g in near)

    sheet = tmp_path / "sheet.png"
    run("search", "a red circle", "--sheet", str(sheet), "-q", db=db)
    assert sheet.stat().st_size > 10_000  # thumbnails drawn, from the catalog's own store
    run("roots", "remove", str(library), db=db)
    assert run_json("status", db=db)["embedded_with_model"] == 0


def test_near_duplicates_on_postgresql_match_sqlite(library: Path, pg_url: str, tmp_path: Path) -> None:
    shutil.copy(library / "red-circles" / "red-circle-1.png", library / "copy.png")
    shape_files("red", "circle", n=1, seed=0, size=200)[0].resize((150, 150)).save(library / "smaller.png")
    sqlite = str(tmp_path / "c.db")
    for db in (sqlite, pg_url):
        run("index", str(library), "-q", db=db)

    def groups(db: str, threshold: str) -> list[tuple]:
        found = run_json("dupes", "--near", "--threshold", threshold, db=db)
        return sorted((tuple(sorted(Path(p).name for m in g["members"] for p in [m["path"], *m["copies"]])),
                       tuple(round(m["score"], 3) for m in g["members"])) for g in found)

    for threshold in ("0.9", "0.98"):  # PostgreSQL: the HNSW path (its planner may scan 11 rows instead)
        assert groups(pg_url, threshold) == groups(sqlite, threshold) != []


def test_rescan_embeds_nothing_and_a_rename_costs_no_model_run(db: str, library: Path) -> None:
    run_json("index", str(library), db=db)
    again = run_json("index", db=db)
    assert again["embedded"] == again["read"] == 0 and again["unchanged"] == 9
    red = library / "red-circles"
    (red / "red-circle-1.png").rename(library / "renamed.png")
    (red / "red-circle-2.png").unlink()
    moved = run_json("index", db=db)
    assert moved["embedded"] == 0 and moved["reused"] == 1 and moved["removed"] == 2
    hits = run_json("search", "a red circle", "-n", "9", db=db)
    assert "renamed.png" in names(hits) and "red-circle-2.png" not in names(hits)
    assert run_json("status", db=db)["embedded_with_model"] == 8


def test_the_web_api_serves_either_catalog(db: str, library: Path) -> None:
    run_json("index", str(library), db=db)
    with TestClient(web.create_app(db, "tiny-shapes"), base_url="http://127.0.0.1") as client:  # its own host
        body = client.get("/api/search", params={"q": "a green triangle", "n": 2}).json()
        assert all("green-triangle" in r["path"] for r in body["results"])
        first = body["results"][0]
        thumb = client.get(first["thumb"])
        assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
        assert client.get(first["image"]).status_code == 200
        assert client.get("/api/similar", params={"id": first["id"], "n": 1}).json()["results"]
        assert client.get("/api/status").json()["images_indexed"] == 9
        assert client.get("/api/dupes").json()["groups"] == []


def test_a_killed_run_resumes_to_the_same_final_state(pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL (test_cli_e2e kills SQLite runs three ways); the reference is a SQLite catalog
    built without a stop, so this also checks that both catalogs answer alike."""
    db = pg_url
    lib = tmp_path / "lib"
    write_shapes(lib, 300, size=256)
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "index", str(lib), "--db", db, "-q", "--batch-size", "4",
                             "--workers", "1", "--commit-seconds", "0.05"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and files_committed(db) < 20:
        time.sleep(0.05)
    assert proc.poll() is None, f"indexing ended (rc {proc.returncode}) before 20 files were committed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = files_committed(db)
    assert 20 <= partial < 300
    resumed = run_json("index", db=db)
    assert resumed["unchanged"] == partial and resumed["read"] == 300 - partial
    fresh = str(tmp_path / "fresh.db")
    run_json("index", str(lib), db=fresh)
    for target in (db, fresh):
        st = run_json("status", db=target)
        assert (st["images_indexed"], st["embedded_with_model"]) == (300, len({p.read_bytes() for p in lib.iterdir()}))

    hits, expected = (run_json("search", "a red circle", "-n", "10", db=target) for target in (db, fresh))
    assert [h["path"] for h in hits] == [h["path"] for h in expected]
    assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in expected], abs=1e-5)


def test_two_indexers_at_once_embed_each_content_once(pg_url: str, tmp_path: Path) -> None:
    a, b = tmp_path / "lib" / "a", tmp_path / "lib" / "b"
    write_shapes(a, 80, seed=5)
    write_shapes(b, 80, seed=6)
    for p in sorted(a.iterdir())[:40]:  # overlapping contents under both roots
        shutil.copy(p, b / f"copy-{p.name}")
    distinct = len({p.read_bytes() for p in (tmp_path / "lib").rglob("*.png")})
    runs = [subprocess.Popen([sys.executable, "-m", "picfind", "index", *roots, "--db", pg_url, "--json",
                              "--batch-size", "4", "--commit-seconds", "0.1"], stdout=subprocess.PIPE, text=True)
            for roots in ([str(a), str(b)], [str(b), str(a)])]
    reports = [json.loads(r.communicate(timeout=300)[0]) for r in runs]
    assert all(r.returncode == 0 for r in runs)
    assert sum(r["embedded"] for r in reports) == distinct
    st = run_json("status", db=pg_url)
    assert st["images_indexed"] == 200 and st["embedded_with_model"] == distinct
    index = st["vector_index"]
    with psycopg.connect(pg_url) as con:
        pool = con.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))").fetchone()[0]
    assert index["in_use"] == "hnsw" and 0 < index["index_bytes"] < index["shared_buffers_bytes"] == pool
    text = picfind("status", "--db", pg_url, check=True).stdout
    assert f"server shared_buffers {pool / 2**20:,.0f} MiB\n" in text and "raise shared_buffers" not in text


def test_server_problems_are_one_line_without_the_password(pg_server, tmp_path: Path) -> None:
    closed = "postgresql://picfind:s3cret-pw@127.0.0.1:9/photos"
    missing = pg_server.get_uri("no_such_database")
    stranger = missing.replace("postgres:@", "stranger:s3cret-pw@").replace("no_such_database", "postgres")
    for url, words in ((closed, "127.0.0.1"), (missing, "no_such_database"), (stranger, "stranger")):
        proc = picfind("status", "--db", url)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr
        assert "s3cret-pw" not in proc.stderr + proc.stdout
    proc = picfind("index", str(tmp_path), "--db", pg_server.get_uri("postgres"), "--ann", "hnsw")
    assert proc.returncode == 1 and "pgvector" in proc.stderr


def test_a_user_who_may_not_create_the_extension_is_told_what_the_admin_must_run(pg_server) -> None:
    """The realistic first contact: the admin made a role with a password and a database it owns,
    but pgvector is not a trusted extension. Every answer is one line, none shows the password."""
    role = f"u{uuid.uuid4().hex[:10]}"
    pg_server.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'; CREATE DATABASE {role} OWNER {role};")
    hba = Path(pg_server.psql("SHOW hba_file;").splitlines()[2].strip())
    hba.write_text(f"local all {role} scram-sha-256\n" + hba.read_text())  # this role needs its password
    pg_server.psql("SELECT pg_reload_conf();")
    url = pg_server.get_uri(role).replace("postgres:@", f"{role}:pw-{role}@")

    def one_line(url: str, *words: str) -> None:  # the CLI in this process: an exception would fail here
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            assert main(["status", "--db", url]) == 1
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
        assert all(w in err.getvalue() for w in words), err.getvalue()
        assert f"pw-{role}" not in out.getvalue() + err.getvalue() and "wrong-pw" not in err.getvalue()
    one_line(url, "permission denied to create extension", f"psql -d {role} -c 'CREATE EXTENSION vector'")
    one_line(url.replace(f"pw-{role}", "wrong-pw"), "password authentication failed", "PGPASSWORD")
    one_line(url.replace(f"{role}:", "nobody:"), 'role "nobody" does not exist', "admin")
    one_line(url.replace(f"/{role}?", "/nothere?"), 'database "nothere" does not exist', "createdb")
    one_line("postgresql://x:pw-" + role + "@127.0.0.1:9/photos", "Connection refused", "is the server running")
    with psycopg.connect(pg_server.get_uri(role), autocommit=True) as admin:  # what the line said to run
        admin.execute("CREATE EXTENSION vector")
    assert run_json("status", db=url)["images_indexed"] == 0


def test_the_schema_is_numbered_and_a_newer_one_is_refused(pg_url: str) -> None:
    from picfind.catalogs.postgres.schema import MIGRATIONS

    run("status", db=pg_url)  # creates the schema
    with psycopg.connect(pg_url, autocommit=True) as con:
        assert con.execute("SELECT version, name FROM picfind_schema ORDER BY version").fetchall() == [
            (i, name) for i, (name, _) in enumerate(MIGRATIONS, 1)]
        assert [name for name, _ in MIGRATIONS[:3]] == ["m001_initial", "m002_ocr_texts", "m003_places"]
        assert con.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone()
        con.execute("INSERT INTO picfind_schema(version, name) VALUES (99, 'from the future')")
    proc = picfind("status", "--db", pg_url)
    assert proc.returncode == 1 and "newer than this picfind" in proc.stderr and "Traceback" not in proc.stderr


def test_a_catalog_of_the_first_schema_gains_the_text_table_and_keeps_its_files(pg_url: str) -> None:
    from picfind.catalogs.postgres.schema import MIGRATIONS

    with psycopg.connect(pg_url, autocommit=True) as con:  # a catalog made before OCR text existed
        con.execute(MIGRATIONS[0][1])
        con.execute("CREATE TABLE picfind_schema (version integer PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        con.execute("INSERT INTO picfind_schema(version, name) VALUES (1, 'm001_initial')")
        con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES ('/p', '[]', '[]', 0)")
        con.execute("INSERT INTO files(path, root_id, size, mtime_ns, mtime_local, ext, content_hash, status) "
                    "VALUES ('/p/a.jpg', 1, 1, 1, '2020-01-01 00:00:00', 'jpg', 'h', 'ok')")
    st = run_json("status", db=pg_url)
    assert st["files_seen"] == 1 and st["ocr"]["pictures_read"] == 0
    with psycopg.connect(pg_url, autocommit=True) as con:
        assert con.execute("SELECT max(version) FROM picfind_schema").fetchone()[0] == len(MIGRATIONS)
        assert con.execute("SELECT count(*) FROM ocr_texts").fetchone()[0] == 0


def test_offline_places_and_nested_roots_behave_alike_on_both_catalogs(db: str, library: Path, tmp_path: Path) -> None:
    run_json("index", str(library), db=db)
    inner = library / "red-circles"
    taken = run_json("index", str(inner), db=db)  # a root inside a root takes its files over
    assert (taken["read"], taken["embedded"], taken["removed"]) == (0, 0, 0)
    away = tmp_path / "unplugged"
    library.rename(away)
    report = run_json("index", db=db)
    assert report["removed"] == 0 and sum(report["offline"].values()) == 9
    st = run_json("status", db=db)
    assert sum(p["files"] for p in st["offline"]) == 9 and st["embedded_with_model"] == 9
    assert run_json("search", "a red circle", db=db) == []  # offline files are left out
    away.rename(library)
    back = run_json("index", db=db)
    assert (back["embedded"], back["read"], back["unchanged"]) == (0, 0, 9)
    assert run_json("status", db=db)["offline"] == []
    assert len(run_json("search", "a red circle", "-n", "20", db=db)) == 9
    out = run("roots", "remove", str(library), db=db)  # the outer root: the inner one keeps its 3
    assert "its 6 files" in out
    assert run_json("status", db=db)["embedded_with_model"] == 3


def test_a_postgresql_catalog_without_ocr_has_no_text_part(pg_url: str, tmp_path: Path) -> None:
    """Until `index --ocr` turns it on, results carry no text and --ocr-only says why in one line."""
    write_shapes(tmp_path / "pics", 1)
    run("index", str(tmp_path / "pics"), db=pg_url)
    assert all(h["ocr_text"] is None for h in run_json("search", "a shape", db=pg_url))
    assert "text      off (turn on with `picfind index --ocr`)" in run("status", db=pg_url)
    proc = picfind("search", "shape", "--ocr-only", "--db", pg_url)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "--ocr" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
