"""People, end to end on real faces with the real models (dlib's detector, landmarks and
descriptor): faces found at index time, grouped into people that never merge, named, searched
beside the text, kept right across incremental runs, and forgotten for good."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from picfind.people.finder import MAX_FACES, FaceFinder
from picfind.people.grouping import group

from .conftest import picfind
from .people_pictures import composite, crowd, faces, write_people
from .test_watch import until, watching
from .videos import grey, write_video

pytestmark = pytest.mark.slow
MODEL = "tiny-shapes"


def run(db: Path | str, *args: str) -> str:
    return picfind(*args, "--db", str(db), "--model", MODEL, check=True).stdout


def people(db: Path | str) -> list[dict]:
    return json.loads(run(db, "people", "--json"))


def paths(db: Path | str, *args: str) -> set[str]:
    return {Path(p).name for p in run(db, "search", *args, "-n", "100", "--paths-only").split("\n") if p}


def who_is(db: Path | str) -> dict[str, int]:
    """Which person id holds each real person's pictures (by the files in it)."""
    found = {}
    for p in people(db):
        shown = json.loads(run(db, "people", "show", str(p["id"]), "--json"))["faces_shown"]
        names = {Path(f["path"]).name.split("_")[0] for f in shown if f["path"]} & {"eileen", "messi"}
        assert len(names) == 1, f"person {p['id']} holds pictures of {names}"  # never two people in one
        found[names.pop()] = p["id"]
    return found


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, list[Path]]]:
    """A folder of two real people's pictures indexed with --faces, once for the module."""
    base = tmp_path_factory.mktemp("people")
    files = write_people(base / "Pictures")
    db = base / "people.db"
    report = json.loads(run(db, "index", str(base / "Pictures"), "--faces", "--json"))
    assert report["faces_read"] == 10 and report["faces_found"] >= 10
    return base / "Pictures", db, files


@pytest.fixture()
def copy(indexed, tmp_path: Path) -> tuple[Path, Path, dict[str, list[Path]]]:
    """The indexed folder and catalog, copied, for a test that changes them."""
    folder, db, _ = indexed
    mine = tmp_path / "Pictures"
    shutil.copytree(folder, mine)
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL folded into the file before it is copied
    shutil.copy(db, tmp_path / "people.db")
    run(tmp_path / "people.db", "index", str(mine))  # the copy's own root; moved files cost no model run
    run(tmp_path / "people.db", "roots", "remove", str(folder))
    return mine, tmp_path / "people.db", {k: [mine / p.name for p in v] for k, v in indexed[2].items()}


def test_each_real_person_is_one_group_and_two_never_merge(indexed) -> None:
    _, db, files = indexed
    found = who_is(db)
    assert set(found) == {"eileen", "messi"}
    listed = {p["id"]: p for p in people(db)}
    for name, pid in found.items():
        assert listed[pid]["pictures"] == len(files[name])  # every picture of them, the one of both included
        assert listed[pid]["name"] is None and listed[pid]["face"] is not None


def test_named_people_are_searched_beside_the_text(copy) -> None:
    _, db, files = copy
    found = who_is(db)
    run(db, "people", "name", str(found["eileen"]), "Eileen", "Collins")
    run(db, "people", "name", str(found["messi"]), "Lionel Messi")
    names = {k: {p.name for p in v} for k, v in files.items()}
    assert paths(db, "--person", "Eileen Collins") == names["eileen"]
    assert paths(db, "--person", "eileen") == names["eileen"]  # a first name no one else has
    assert paths(db, "--person", "eileen", "--person", "messi") == {"both.jpg"}  # all of them
    assert paths(db, "--person", "eileen", "--person", "messi", "--any-person") == names["eileen"] | names["messi"]
    assert paths(db, "--person", "eileen", "--only-people") == names["eileen"] - {"both.jpg"}
    assert paths(db, "a", "red", "sofa", "--person", "messi") == names["messi"]  # with any text
    # a name inside the query is a person filter, and says so
    proc = picfind("search", "lionel messi on a rocket", "--db", str(db), "--model", MODEL, "-n", "100", check=True)
    assert "searching for pictures of Lionel Messi with 'on a rocket'" in proc.stderr
    assert {Path(line.split()[2]).name for line in proc.stdout.splitlines()} == names["messi"]
    hits = json.loads(run(db, "search", "eileen", "--json", "-n", "100"))
    assert {Path(h["path"]).name for h in hits} == names["eileen"]
    # a name no one has: one line
    proc = picfind("search", "--person", "nobody", "--db", str(db), "--model", MODEL)
    assert proc.returncode == 1 and proc.stderr.startswith("picfind: error: no person 'nobody'")
    assert "Traceback" not in proc.stderr


def test_similar_faces_finds_the_same_people(indexed, tmp_path: Path) -> None:
    _, db, files = indexed
    found = who_is(db)
    assert paths(db, "--person", str(found["messi"])) - {"messi_0.jpg"} == {
        Path(line).name for line in run(db, "similar", str(files["messi"][0]), "--faces", "--paths-only",
                                          "-n", "100").split("\n") if line}
    new = tmp_path / "new.jpg"  # a picture not in the catalog: its faces are found now and matched
    composite(faces()["eileen"], Image.new("RGB", (640, 480), (40, 90, 160)), 3, at=(200, 120)).save(new)
    out = run(db, "similar", str(new), "--faces", "--paths-only", "-n", "100")
    found = {Path(p).name for p in out.split("\n") if p}
    assert found == {p.name for p in files["eileen"]}


def test_new_renamed_and_deleted_pictures_keep_people_right(copy) -> None:
    folder, db, files = copy
    eileen = who_is(db)["eileen"]
    run(db, "people", "name", str(eileen), "Eileen")
    composite(faces()["eileen"], Image.open(folder / "rocket.jpg"), 3).save(folder / "eileen_new.jpg")
    report = json.loads(run(db, "index", "--json"))  # --faces is remembered
    assert report["faces_read"] == 1 and report["people"]["new_people"] == 0
    assert "eileen_new.jpg" in paths(db, "--person", "Eileen")  # joined the named person
    (folder / "eileen_0.jpg").rename(folder / "renamed.jpg")
    report = json.loads(run(db, "index", "--json"))
    assert report["faces_read"] == 0 and report["moved"] == 1  # a rename finds no face again
    assert "renamed.jpg" in paths(db, "--person", "Eileen")
    for f in files["messi"]:
        f.unlink()  # every picture of Messi (and the one of both) deleted
    run(db, "index")
    assert [p["name"] for p in people(db)] == ["Eileen"]  # their faces left; the person with none went
    assert paths(db, "--person", "Eileen") == {"eileen_1.jpg", "eileen_2.jpg", "eileen_3.jpg", "eileen_new.jpg",
                                               "renamed.jpg"}


def test_what_the_user_says_survives_grouping_again(copy) -> None:
    _, db, _ = copy
    found = who_is(db)
    run(db, "people", "name", str(found["eileen"]), "Eileen")
    shown = json.loads(run(db, "people", "show", "Eileen", "--json"))["faces_shown"]
    odd = next(f for f in shown if "both" not in f["path"])
    run(db, "people", "remove", str(odd["id"]))  # "that is not her"
    out = run(db, "people", "regroup")
    assert "grouped again" in out
    after = {p["name"]: p for p in people(db)}
    assert after["Eileen"]["pictures"] == len(shown) - 1  # the name stayed; the face removed stays out
    assert Path(odd["path"]).name not in paths(db, "--person", "Eileen")
    run(db, "people", "assign", str(odd["id"]), "Eileen")
    assert Path(odd["path"]).name in paths(db, "--person", "Eileen")
    messi = who_is(db)["messi"]
    proc = picfind("people", "merge", "Eileen", str(messi), "--db", str(db), "--model", MODEL)
    assert proc.returncode == 0  # an unnamed person may be merged into a named one...
    run(db, "people", "name", "Eileen", "Two people")
    assert [p["name"] for p in people(db)] == ["Two people"]


def test_two_named_people_are_never_merged_by_accident(copy) -> None:
    _, db, _ = copy
    found = who_is(db)
    run(db, "people", "name", str(found["eileen"]), "Eileen")
    run(db, "people", "name", str(found["messi"]), "Messi")
    proc = picfind("people", "merge", "Eileen", "Messi", "--db", str(db), "--model", MODEL)
    assert proc.returncode == 1 and "named apart" in proc.stderr
    proc = picfind("people", "name", "Messi", "eileen", "--db", str(db), "--model", MODEL)
    assert proc.returncode == 1 and "merge them" in proc.stderr  # names are unique: say how to merge instead
    run(db, "people", "regroup")
    assert sorted(p["name"] for p in people(db)) == ["Eileen", "Messi"]


def test_forget_deletes_every_face_and_its_crop(copy) -> None:
    _, db, _ = copy
    crops = [bytes(c) for (c,) in sqlite3.connect(db).execute("SELECT thumb FROM faces")]
    assert crops
    proc = picfind("people", "forget", "--db", str(db), "--model", MODEL)  # no terminal: asks for --yes
    assert proc.returncode == 2 and "--yes" in proc.stderr
    assert "forgot" in run(db, "people", "forget", "--yes")
    con = sqlite3.connect(db)
    tables = ("faces", "faces_read", "people")
    assert [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables] == [0] * 3
    raw = db.read_bytes() + (Path(f"{db}-wal").read_bytes() if Path(f"{db}-wal").exists() else b"")
    assert not any(c[200:264] in raw for c in crops)  # the crops' bytes are gone from the file, not just unlinked
    assert json.loads(run(db, "status", "--json"))["faces"]["setting"] == "off"
    assert json.loads(run(db, "index", "--json"))["faces_read"] == 0  # and no longer looked for


def test_a_crowd_costs_bounded_time_and_keeps_at_most_the_cap(tmp_path: Path) -> None:
    picture = np.asarray(crowd(faces()["eileen"], n=64))
    found = FaceFinder().find(picture)
    assert MAX_FACES // 2 <= len(found) <= MAX_FACES
    sides = [f.box[2] for f in found]
    assert sides == sorted(sides, reverse=True)  # the largest kept


def test_a_turned_photo_is_read_upright(tmp_path: Path) -> None:
    folder = tmp_path / "turned"
    folder.mkdir()
    upright = composite(faces()["eileen"], Image.new("RGB", (10, 10), (120, 80, 60)), 0, at=(250, 150))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter, shown upright by the viewer
    upright.transpose(Image.Transpose.ROTATE_90).save(folder / "turned.jpg", exif=exif)
    report = json.loads(run(tmp_path / "t.db", "index", str(folder), "--faces", "--json"))
    assert report["faces_found"] == 1


def test_grouping_is_deterministic_and_needs_a_core() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=128), rng.normal(size=128)
    a, b = a / np.linalg.norm(a) * 0.9, b / np.linalg.norm(b) * 0.9
    vectors = np.stack([a + rng.normal(0, 0.02, 128) for _ in range(4)]
                       + [b + rng.normal(0, 0.02, 128) for _ in range(2)]).astype(np.float32)
    none = np.full(6, -1)
    out = group(vectors, none, np.arange(6), np.arange(10, 16))
    assert out.founded == [[10, 11, 12, 13]] and out.waiting == [14, 15]  # two faces are no person yet
    assert group(vectors, none, np.arange(6)[::-1].copy(), np.arange(10, 16)).founded[0][0] == 13  # same people
    joined = group(vectors, np.array([7, 7, 7, -1, -1, -1]), np.arange(3, 6), np.arange(10, 16))
    assert joined.joined == {13: 7} and joined.founded == [] and joined.waiting == [14, 15]


def test_an_older_catalog_gains_the_face_tables_and_keeps_its_files(tmp_path: Path) -> None:
    from picfind.catalogs.sqlite.catalog import Catalog
    from picfind.catalogs.sqlite.schema import MIGRATIONS, statements

    db = tmp_path / "old.db"
    con = sqlite3.connect(db, isolation_level=None)
    before = next(k for k, step in enumerate(MIGRATIONS) if "CREATE TABLE faces" in step)  # the schema before faces
    for step in MIGRATIONS[:before]:
        for statement in statements(step):
            con.execute(statement)
    con.execute(f"PRAGMA user_version = {before}")
    con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (x'2f70', '[]', '[]', 0)")
    con.execute("INSERT INTO files(path, root_id, size, mtime_ns, content_hash, status) VALUES (x'2f702f61', 1, 1, 1, "
                "'h', 'ok')")
    con.close()
    cat = Catalog(db)
    assert cat.people() == [] and cat.faces_read("dlib-resnet-v1") == set()
    assert list(cat.files_of_root(1)) == ["/p/a"]
    cat.close()


def test_postgresql_keeps_faces_and_people_as_sqlite_does(pg_url: str, tmp_path: Path) -> None:
    files = write_people(tmp_path / "Pictures", per_person=3)
    report = json.loads(run(pg_url, "index", str(tmp_path / "Pictures"), "--faces", "--json"))
    assert report["faces_read"] == 8 and report["people"]["new_people"] == 2
    found = who_is(pg_url)
    run(pg_url, "people", "name", str(found["messi"]), "Messi")
    assert paths(pg_url, "--person", "messi") == {p.name for p in files["messi"]}
    assert paths(pg_url, "a", "cat", "--person", "messi", "--person", str(found["eileen"])) == {"both.jpg"}
    (tmp_path / "Pictures" / "both.jpg").unlink()
    run(pg_url, "index")
    assert paths(pg_url, "--person", "messi") == {p.name for p in files["messi"]} - {"both.jpg"}
    run(pg_url, "people", "forget", "--yes")
    status = json.loads(run(pg_url, "status", "--json"))["faces"]
    assert (status["faces"], status["people"], status["setting"]) == (0, 0, "off")


def test_ray_workers_send_back_faces_not_pictures(tmp_path: Path) -> None:
    files = write_people(tmp_path / "Pictures", per_person=3)
    db = tmp_path / "ray.db"
    report = json.loads(run(db, "index", str(tmp_path / "Pictures"), "--faces", "--ray", "--json"))
    assert report["device"].startswith("ray") and report["faces_read"] == 8 and report["faces_found"] >= 8
    found = who_is(db)
    assert paths(db, "--person", str(found["eileen"])) == {p.name for p in files["eileen"]}
    crops = sqlite3.connect(db).execute("SELECT count(*), min(length(thumb)), max(length(thumb)) FROM faces").fetchone()
    assert crops[0] >= 8 and 500 < crops[1] <= crops[2] < 20_000  # small JPEG crops came back


def test_a_video_result_names_the_moment_the_person_appears(tmp_path: Path) -> None:
    folder = tmp_path / "Library"
    write_people(folder, per_person=3)
    scene = composite(faces()["eileen"], grey(600, 3), 0, at=(250, 150), size=(640, 480))
    write_video(folder / "visit.mp4", [(0.0, grey(480, 1)), (6.0, scene)], 10, size=(640, 480), gop=10)
    db = tmp_path / "v.db"
    report = json.loads(run(db, "index", str(folder), "--faces", "--json"))
    assert report["faces_read"] >= 9  # the pictures, and the video's kept frames
    eileen = who_is(db)["eileen"]
    listed = {p["id"]: p for p in people(db)}[eileen]
    assert (listed["pictures"], listed["videos"]) == (4, 1)
    hits = json.loads(run(db, "search", "--person", str(eileen), "--kind", "video", "--json"))
    assert len(hits) == 1 and hits[0]["time"] == 6.0  # the moment she appears, not the video's opening
    line = run(db, "search", "a", "face", "--person", str(eileen), "--kind", "video")
    assert "visit.mp4 @ 0:06" in line


def test_without_the_face_packages_one_line_says_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "p"
    folder.mkdir()
    Image.new("RGB", (64, 64)).save(folder / "a.png")
    code = ("import sys; sys.modules['dlib'] = None; from picfind.cli.main import main; "
            f"sys.exit(main(['index', {str(folder)!r}, '--faces', '--db', {str(tmp_path / 'c.db')!r}, "
            f"'--model', {MODEL!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr == (
        "picfind: error: finding faces needs the people extra: pip install 'picfind[people]'\n")
    status = json.loads(run(tmp_path / "c.db", "status", "--json"))
    assert status["faces"]["setting"] == "off"  # not remembered as on when it could not run


def test_a_watched_folder_keeps_finding_faces(tmp_path: Path) -> None:
    files = write_people(tmp_path / "Pictures", per_person=3)
    db = tmp_path / "w.db"
    run(db, "index", str(tmp_path / "Pictures"), "--faces")  # remembered: the watcher finds faces too
    eileen = who_is(db)["eileen"]
    from picfind import Library

    with watching(db), Library(db, model=MODEL) as lib:
        composite(faces()["eileen"], Image.open(files["messi"][0]).convert("L").convert("RGB"), 3,
                  at=(500, 300)).save(tmp_path / "Pictures" / "eileen_watched.jpg")
        until(lambda: lib.person(eileen)["pictures"] == 5, "the new picture's face joining its person")


def test_the_shell_and_the_python_api_know_people(copy) -> None:
    from picfind import Library

    _, db, files = copy
    run(db, "people", "name", str(who_is(db)["messi"]), "Messi")
    proc = picfind("shell", "--db", str(db), "--model", MODEL, input="messi -n 50\n--person messi --only-people\n",
                   check=True)
    assert proc.stderr.count("searching for pictures of Messi") == 2
    shown = {Path(line.split()[2]).name for line in proc.stdout.splitlines() if line.strip()}
    assert shown == {p.name for p in files["messi"]}
    with Library(db, model=MODEL) as lib:
        hits = lib.search("", where=lib.with_people(None, ["Messi"], "only"), n=50)
        assert {Path(h.path).name for h in hits} == {p.name for p in files["messi"]} - {"both.jpg"}
        assert lib.understood("messi on a bike")["people"] == ["Messi"]
