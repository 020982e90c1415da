"""Pictures in the terminal: the escape sequences of each protocol decoded back to pictures, the
terminal told apart by its variables and by its answer over a real pseudo-terminal, the one
line where it cannot draw, and (where xterm and Xvfb are installed) a screenshot of a real
sixel terminal showing the results."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from picfind.cli import main
from picfind.cli import preview as pv

from .conftest import shape_files

KITTY_CHUNK = re.compile(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\")
ITERM = re.compile(r"\x1b\]1337;File=([^:]*):([A-Za-z0-9+/=]*)\x07")
SIXEL = re.compile(r"\x1bP([0-9;]*)q(.*?)\x1b\\", re.S)


def photo(width: int = 200, height: int = 150) -> Image.Image:
    """A picture with gradients and flat areas, like a photo's thumbnail."""
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 90)], -1).astype(np.uint8)
    arr[40:80, 50:120] = (220, 30, 30)
    return Image.fromarray(arr)


def kitty_images(text: str) -> list[tuple[dict, Image.Image]]:
    """Every picture a kitty-protocol stream sends: its first chunk's keys and the decoded PNG."""
    out, keys, payload = [], None, ""
    for control, data in KITTY_CHUNK.findall(text):
        fields = dict(kv.split("=") for kv in control.split(","))
        assert len(data) <= 4096
        if keys is None:
            keys, payload = fields, ""
        payload += data
        if fields["m"] == "0":
            out.append((keys, Image.open(io.BytesIO(base64.b64decode(payload)))))
            keys = None
    assert keys is None, "a picture's last chunk (m=0) is missing"
    return out


def decode_sixel(body: str) -> tuple[tuple[int, int], np.ndarray]:
    """A sixel body back to pixels: (declared width, height) and an RGB array (unset: -1)."""
    m = re.match(r'"1;1;(\d+);(\d+)', body)
    assert m, "raster attributes (1:1 pixels, width, height) come first"
    width, height = int(m[1]), int(m[2])
    pixels = np.full((height + 6, width, 3), -1, np.int32)
    palette: dict[int, tuple[int, ...]] = {}
    colour, x, top = 0, 0, 0
    for token in re.findall(r"#\d+(?:;2;\d+;\d+;\d+)?|![0-9]+[?-~]|[?-~]|\$|-", body[m.end():]):
        if token.startswith("#"):
            parts = [int(p) for p in token[1:].split(";")]
            colour = parts[0]
            if len(parts) == 5:
                palette[colour] = tuple(round(v * 255 / 100) for v in parts[2:])
        elif token == "$":
            x = 0
        elif token == "-":
            x, top = 0, top + 6
        else:
            count, char = (int(token[1:-1]), token[-1]) if token.startswith("!") else (1, token)
            bits = ord(char) - 63
            for row in range(6):
                if bits >> row & 1:
                    pixels[top + row, x:x + count] = palette[colour]
            x += count
    return (width, height), pixels[:height]


# the three protocols


def test_kitty_sends_a_png_of_the_picture_in_chunks() -> None:
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (192, 256, 3), np.uint8))
    for img in (photo(256, 192), noise):  # one chunk; about 50
        text = pv.kitty(img, cells=20)
        [(keys, sent)] = kitty_images(text)
        assert keys["a"] == "T" and keys["f"] == "100" and keys["c"] == "20" and keys["q"] == "2"
        assert sent.size == (256, 192) and np.array_equal(np.asarray(sent.convert("RGB")), np.asarray(img))
    assert text.count("\x1b_G") > 10


def test_iterm2_sends_the_jpeg_as_it_is() -> None:
    buf = io.BytesIO()
    photo(256, 192).save(buf, "JPEG")
    [(args, data)] = ITERM.findall(pv.iterm(buf.getvalue(), cells=30))
    fields = dict(kv.split("=") for kv in args.split(";"))
    assert fields == {"inline": "1", "size": str(len(buf.getvalue())), "width": "30", "preserveAspectRatio": "1"}
    assert base64.b64decode(data) == buf.getvalue()
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (256, 192)


def test_sixel_draws_the_picture_at_its_size_in_its_colours() -> None:
    img = photo(200, 150)
    [(params, body)] = SIXEL.findall(pv.sixel(img, side=120))
    assert params == "0;1;0"  # unset pixels keep the background
    (width, height), drawn = decode_sixel(body)
    assert (width, height) == (120, 90)
    assert (drawn >= 0).all(), "every pixel is drawn"
    expected = np.asarray(img.resize((120, 90), Image.Resampling.LANCZOS), np.int32)
    assert np.abs(drawn - expected).mean() < 8  # 64 colours of a smooth picture
    assert tuple(drawn[45, 60]) == pytest.approx((220, 30, 30), abs=6)  # the red block, in place
    assert len(re.findall(r"#\d+;2;", body)) <= 64


def test_picture_draws_a_thumbnail_then_a_new_line() -> None:
    buf = io.BytesIO()
    photo(64, 48).save(buf, "JPEG")
    for protocol in pv.PROTOCOLS:
        text = pv.picture(buf.getvalue(), protocol)
        assert text.endswith("\n") and text.startswith("\x1b")


# telling the terminal


@pytest.mark.parametrize(("env", "expected"), [
    ({"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"}, "kitty"),
    ({"TERM": "xterm-ghostty", "TERM_PROGRAM": "ghostty"}, "kitty"),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, "iterm"),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, "iterm"),
    ({"TERM": "xterm-256color", "LC_TERMINAL": "iTerm2"}, "iterm"),  # iTerm2 over ssh
    ({"TERM": "xterm-256color"}, None),
    ({"TERM": "xterm-kitty", "PICFIND_PREVIEW": "off"}, "off"),
    ({"TERM": "dumb", "PICFIND_PREVIEW": "SIXEL"}, "sixel"),
])
def test_the_environment_names_the_protocol(env: dict, expected: str | None) -> None:
    assert pv.from_environment(env) == expected


def test_a_da1_answer_lists_sixel_or_not() -> None:
    assert pv.da1_has_sixel(b"\x1b[?63;1;2;4;6;9;15;16;22;28c")  # xterm -ti vt340
    assert pv.da1_has_sixel(b"noise\x1b[?62;4c")
    assert not pv.da1_has_sixel(b"\x1b[?1;2c")  # a VT100 with advanced video
    assert not pv.da1_has_sixel(b"\x1b[?64;1;2;6;9;15;18;21;22c")  # xterm's default VT420: no 4
    assert not pv.da1_has_sixel(b"") and not pv.da1_has_sixel(b"\x1b[?63;1;4")  # cut short


def _terminal(answer: bytes | None) -> tuple[int, threading.Thread]:
    """A pseudo-terminal whose other end answers DA1 with `answer` (None: never answers);
    returns the terminal's fd for picfind and the answering thread."""
    import pty

    main_fd, term_fd = pty.openpty()

    def answer_it() -> None:
        asked = b""
        while b"\x1b[c" not in asked:
            asked += os.read(main_fd, 64)
        if answer is not None:
            os.write(main_fd, answer)
    thread = threading.Thread(target=answer_it, daemon=True)
    thread.start()
    return term_fd, thread


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals")
def test_the_terminal_is_asked_and_its_answer_read_without_echo() -> None:
    import termios

    fd, thread = _terminal(b"\x1b[?63;1;2;4;6;9;15;16;22;28c")
    settings = termios.tcgetattr(fd)
    assert pv.asks_sixel(fd, fd, timeout=5)
    assert termios.tcgetattr(fd) == settings  # the terminal is left as it was
    thread.join(5)

    fd, thread = _terminal(b"\x1b[?1;2c")
    assert not pv.asks_sixel(fd, fd, timeout=5)
    fd, thread = _terminal(None)  # a terminal that never answers costs the timeout only
    started = time.monotonic()
    assert not pv.asks_sixel(fd, fd, timeout=0.2)
    assert time.monotonic() - started < 2


def test_nothing_is_asked_when_output_is_not_a_terminal() -> None:
    assert pv.detect({"TERM": "xterm"}, io.StringIO(), io.StringIO()) is None
    assert pv.detect({"TERM": "xterm", "KITTY_WINDOW_ID": "3"}, io.StringIO(), io.StringIO()) == "kitty"


# the command and the shell


@pytest.fixture(scope="module")
def shapes_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    lib = tmp_path_factory.mktemp("preview") / "Pictures"
    lib.mkdir()
    for colour, shape in (("red", "circle"), ("blue", "square")):
        for i, img in enumerate(shape_files(colour, shape, n=2, seed=len(colour))):
            img.save(lib / f"{colour}-{shape}-{i}.png")
    db = str(lib.parent / "c.db")
    os.environ["PICFIND_MODEL"] = "tiny-shapes"  # module fixtures run before the per-test environment
    assert main(["index", str(lib), "--db", db, "-q"]) == 0
    return db


@pytest.fixture()
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """capsys's stdout stands in for a terminal (the real ones: the pty and xterm tests)."""
    monkeypatch.setattr(pv, "_isatty", lambda stream: True)


def test_search_preview_draws_the_top_results_in_each_protocol(shapes_db: str, capsys, monkeypatch,
                                                               terminal: None) -> None:
    monkeypatch.setenv("PICFIND_PREVIEW", "kitty")
    assert main(["search", "a red circle", "-n", "3", "--preview", "--db", shapes_db]) == 0
    out = capsys.readouterr().out
    pictures = kitty_images(out)
    assert len(pictures) == 3 and all(img.size == (160, 160) for _, img in pictures)  # the cached thumbnails
    assert out.index("red-circle") < out.index("\x1b_G")  # each below its line
    monkeypatch.setenv("PICFIND_PREVIEW", "iterm")
    assert main(["similar", str(Path(shapes_db).parent / "Pictures" / "blue-square-0.png"), "-n", "2", "--preview",
                 "--db", shapes_db]) == 0
    assert len(ITERM.findall(capsys.readouterr().out)) == 2
    monkeypatch.setenv("PICFIND_PREVIEW", "sixel")
    assert main(["search", "a blue square", "-n", "1", "--preview", "--db", shapes_db]) == 0
    [(_, body)] = SIXEL.findall(capsys.readouterr().out)
    assert decode_sixel(body)[0] == (160, 160)


def test_a_video_previews_the_frame_of_its_moment(tmp_path: Path, capsys, monkeypatch, terminal: None) -> None:
    """The red circle shows at 0:04 of grey footage: the preview is that frame, not the opening."""
    from .videos import RED_CIRCLE, shapes_video

    lib = tmp_path / "Films"
    lib.mkdir()
    shapes_video(lib / "party.mp4", {4.0: RED_CIRCLE}, 10)
    db = str(tmp_path / "c.db")
    monkeypatch.setenv("PICFIND_MODEL", "tiny-shapes")
    assert main(["index", str(lib), "--db", db, "-q"]) == 0
    monkeypatch.setenv("PICFIND_PREVIEW", "kitty")
    assert main(["search", "a red circle", "-n", "1", "--preview", "--db", db]) == 0
    out = capsys.readouterr().out
    [(_, img)] = kitty_images(out)
    assert "party.mp4 @ 0:04" in out
    r, g, b = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int).T
    assert ((r > 150) & (g < 90) & (b < 90)).mean() > 0.02  # red pixels: the moment's frame, not grey footage


def test_a_terminal_that_cannot_draw_gets_one_line_and_the_results(shapes_db: str, capsys, monkeypatch,
                                                                  terminal: None) -> None:
    monkeypatch.delenv("PICFIND_PREVIEW", raising=False)
    for name in ("KITTY_WINDOW_ID", "TERM_PROGRAM", "LC_TERMINAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "dumb")  # a terminal that says it draws nothing
    assert main(["search", "a red circle", "-n", "2", "--preview", "--db", shapes_db]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [pv.CANNOT] and "\x1b" not in captured.out
    assert len(captured.out.splitlines()) == 2
    assert main(["search", "a red circle", "--preview", "--json", "--db", shapes_db]) == 2
    assert "not with --json" in capsys.readouterr().err


def test_the_shell_turns_previews_on_and_off(shapes_db: str, capsys, monkeypatch, terminal: None) -> None:
    monkeypatch.setenv("PICFIND_PREVIEW", "iterm")
    monkeypatch.setattr("sys.stdin", io.StringIO("preview on\na red circle -n 1\npreview off\na red circle -n 1\n"))
    assert main(["shell", "--db", shapes_db]) == 0
    out = capsys.readouterr().out
    assert out.count("previews on") == 1 and out.count("previews off") == 1
    assert len(ITERM.findall(out)) == 1


def test_previews_never_go_into_a_pipe_or_a_file(shapes_db: str, tmp_path: Path) -> None:
    """With PICFIND_PREVIEW (or kitty's variables) set, `--preview | less` and `--preview > out`
    got the pictures' escape codes."""
    env = {**os.environ, "PICFIND_PREVIEW": "kitty", "KITTY_WINDOW_ID": "1", "PICFIND_MODEL": "tiny-shapes"}
    piped = subprocess.run([sys.executable, "-m", "picfind", "search", "a red circle", "-n", "2", "--preview",
                            "--db", shapes_db], capture_output=True, text=True, env=env, timeout=120)
    assert piped.returncode == 0 and "\x1b" not in piped.stdout and len(piped.stdout.splitlines()) == 2
    assert piped.stderr.splitlines() == [pv.NOT_A_TERMINAL]
    with open(tmp_path / "out.txt", "w") as f:
        subprocess.run([sys.executable, "-m", "picfind", "search", "a red circle", "-n", "2", "--preview",
                        "--db", shapes_db], stdout=f, stderr=subprocess.DEVNULL, env=env, timeout=120, check=True)
    assert "\x1b" not in (tmp_path / "out.txt").read_text()


# a real sixel terminal

XTERM, XVFB = shutil.which("xterm"), shutil.which("Xvfb")


@pytest.mark.skipif(not (XTERM and XVFB), reason="needs xterm and Xvfb: apt-get install xterm xvfb")
def test_xterm_as_a_vt340_shows_the_pictures(shapes_db: str, tmp_path: Path) -> None:
    from PIL import ImageGrab

    display = f":{90 + os.getpid() % 500}"
    xvfb = subprocess.Popen([XVFB, display, "-screen", "0", "1000x700x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = tmp_path / "done"
    env = {**os.environ, "DISPLAY": display, "PICFIND_MODEL": "tiny-shapes", "TERM": "xterm"}
    for name in ("PICFIND_PREVIEW", "KITTY_WINDOW_ID", "TERM_PROGRAM", "LC_TERMINAL"):
        env.pop(name, None)
    script = (f"{sys.executable} -m picfind search 'a red circle' -n 2 --preview --db {shapes_db} "
              f"2> {tmp_path / 'err'}; touch {done}; sleep 60")
    try:
        _wait(lambda: subprocess.run(["xdpyinfo", "-display", display], capture_output=True).returncode == 0
              if shutil.which("xdpyinfo") else os.path.exists(f"/tmp/.X11-unix/X{display[1:]}"))
        term = subprocess.Popen([XTERM, "-display", display, "-ti", "vt340", "-geometry", "100x40+0+0",
                                 "-xrm", "XTerm*numColorRegisters: 256", "-bg", "white", "-fg", "black",
                                 "-e", "sh", "-c", script], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(done.exists, 60)
            time.sleep(1.0)  # drawn
            grabbed = ImageGrab.grab(xdisplay=display).convert("RGB")
            if os.environ.get("PICFIND_SCREENSHOT"):  # to look at it
                grabbed.save(os.environ["PICFIND_SCREENSHOT"])
            shot = np.asarray(grabbed, np.int32)
        finally:
            term.kill()
            term.wait(10)
    finally:
        xvfb.kill()
        xvfb.wait(10)
    assert (tmp_path / "err").read_text() == ""  # no "cannot show pictures": the terminal said sixel
    r, g, b = shot[..., 0], shot[..., 1], shot[..., 2]
    red = (r > 150) & (g < 90) & (b < 90)  # the circles: text is black on white
    assert red.sum() > 500, f"{red.sum()} red pixels on screen"


def _wait(ready, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
