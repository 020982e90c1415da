"""Pictures in the terminal (`picfind search --preview`, the shell's `preview on`): the top
results' thumbnails from picfind's own cache, drawn inline where the terminal can.

Three ways, chosen from what the terminal says it is, then from what it answers:
* the kitty graphics protocol (kitty, Ghostty): `KITTY_WINDOW_ID`, `TERM=xterm-kitty`,
  `TERM=xterm-ghostty` or `TERM_PROGRAM=ghostty`; the picture is sent as PNG, in 4 KiB chunks;
* iTerm2's inline images (iTerm2, WezTerm, which draws kitty's too but only when configured):
  `TERM_PROGRAM=iTerm.app` or `WezTerm`, or `LC_TERMINAL=iTerm2` (set through ssh); the JPEG as is;
* sixel, where the terminal lists it (4) in its reply to "who are you" (DA1, `ESC [ c`): xterm
  started as a VT340, foot, mlterm, Windows Terminal, VS Code with images on. The question is
  asked only when stdin and stdout are a terminal, and waits 0.3 s at most; the picture is cut
  to 64 colours (Pillow) and written in bands of six rows by the encoder below.
`PICFIND_PREVIEW=kitty|iterm|sixel|off` overrides the guess. Elsewhere one line says the
terminal cannot show pictures, and the results are listed as always; into a pipe or a file,
nothing is ever drawn.
"""

from __future__ import annotations

import base64
import io
import os
import select
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from picfind.library import Library
    from picfind.search.ranking import Hit

PROTOCOLS = ("kitty", "iterm", "sixel")
CELLS = 24  # a picture's width in terminal columns (kitty, iTerm2); its height follows its shape
SIXEL_SIDE = 192  # a sixel picture's longer side in pixels (sixel has no cell sizes: pixels as they are)
SIXEL_COLOURS = 64
ASK_SECONDS = 0.3
CANNOT = ("picfind: this terminal cannot show pictures (kitty, WezTerm, Ghostty, iTerm2 and sixel terminals "
          "can; PICFIND_PREVIEW=kitty|iterm|sixel says which yours speaks)")


NOT_A_TERMINAL = "picfind: --preview draws pictures only to a terminal, not into a pipe or a file: the results follow"


def from_environment(env: Mapping[str, str]) -> str | None:
    """The protocol a terminal's variables name, None when they do not tell; "off" to say no."""
    forced = env.get("PICFIND_PREVIEW", "").strip().lower()
    if forced in (*PROTOCOLS, "off"):
        return forced
    term, program = env.get("TERM", ""), env.get("TERM_PROGRAM", "")
    if env.get("KITTY_WINDOW_ID") or term in ("xterm-kitty", "xterm-ghostty") or program.lower() == "ghostty":
        return "kitty"
    if program in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2" or term == "wezterm":
        return "iterm"
    return None


def detect(env: Mapping[str, str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None,
           timeout: float = ASK_SECONDS) -> str | None:
    """The protocol to draw with, or None: the environment first, then the terminal's answer."""
    env = os.environ if env is None else env
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    named = from_environment(env)
    if named is not None:
        return None if named == "off" else named
    if env.get("TERM", "") in ("", "dumb") or not (_isatty(stdin) and _isatty(stdout)):
        return None
    return "sixel" if asks_sixel(stdin.fileno(), stdout.fileno(), timeout) else None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def asks_sixel(fd_in: int, fd_out: int, timeout: float = ASK_SECONDS) -> bool:
    """Ask the terminal on `fd_out` who it is (DA1) and read its answer from `fd_in` without
    echo, waiting `timeout` at most: True when it lists sixel graphics."""
    try:
        import termios
    except ImportError:  # pragma: no cover - Windows consoles: no sixel question
        return False
    try:
        saved = termios.tcgetattr(fd_in)
    except termios.error:
        return False
    quiet = termios.tcgetattr(fd_in)
    quiet[3] &= ~(termios.ICANON | termios.ECHO)
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 0, 0
    reply = b""
    try:
        termios.tcsetattr(fd_in, termios.TCSANOW, quiet)
        os.write(fd_out, b"\x1b[c")
        deadline = time.monotonic() + timeout
        while not (b"\x1b[?" in reply and reply.endswith(b"c")):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            chunk = os.read(fd_in, 256)
            if not chunk:
                break
            reply += chunk
    except OSError:
        return False
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    return da1_has_sixel(reply)


def da1_has_sixel(reply: bytes) -> bool:
    """A DA1 answer, `ESC [ ? 63 ; 1 ; 2 ; 4 ; 6 c`: does it list 4 (sixel graphics)?"""
    start = reply.rfind(b"\x1b[?")
    end = reply.find(b"c", start)
    if start < 0 or end < 0:
        return False
    return b"4" in reply[start + 3:end].split(b";")


# drawing


def picture(jpeg: bytes, protocol: str, cells: int = CELLS) -> str:
    """The escape sequence that draws this JPEG inline with `protocol`, then a new line."""
    if protocol == "iterm":
        return iterm(jpeg, cells) + "\n"
    with Image.open(io.BytesIO(jpeg)) as img:
        rgb = img.convert("RGB")
    return (kitty(rgb, cells) if protocol == "kitty" else sixel(rgb)) + "\n"


def kitty(img: Image.Image, cells: int = CELLS) -> str:
    """The kitty graphics protocol: transmit and show (a=T) a PNG (f=100), `cells` columns wide,
    rows to keep its shape, no reply wanted (q=2), in chunks of 4096 base64 bytes (m=1: more)."""
    buf = io.BytesIO()
    img.save(buf, "PNG")
    data = base64.standard_b64encode(buf.getvalue()).decode("ascii")
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)] or [""]
    out = []
    for k, chunk in enumerate(chunks):
        more = int(k < len(chunks) - 1)
        keys = f"a=T,f=100,q=2,c={cells},m={more}" if k == 0 else f"m={more}"
        out.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return "".join(out)


def iterm(jpeg: bytes, cells: int = CELLS) -> str:
    """iTerm2's inline image (OSC 1337 File), `cells` columns wide, its shape kept."""
    data = base64.standard_b64encode(jpeg).decode("ascii")
    return f"\x1b]1337;File=inline=1;size={len(jpeg)};width={cells};preserveAspectRatio=1:{data}\x07"


def sixel(img: Image.Image, side: int = SIXEL_SIDE, colours: int = SIXEL_COLOURS) -> str:
    """A DEC sixel image: at most `side` pixels a side, `colours` colours (Pillow's median cut),
    raster attributes first (1:1 pixels, width, height), then bands of six pixel rows, one pass
    per colour present in the band, runs of a repeated column written `!count`."""
    img = img.convert("RGB")
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    paletted = img.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    index = np.asarray(paletted, dtype=np.int16)
    height, width = index.shape
    rgb = np.asarray(paletted.getpalette()[:3 * colours] or [0, 0, 0], dtype=np.int32).reshape(-1, 3)
    used = np.unique(index)
    out = ['\x1bP0;1;0q', f'"1;1;{width};{height}']
    out += [f"#{c};2;{';'.join(str(round(v * 100 / 255)) for v in rgb[c])}" for c in used]
    weights = (1 << np.arange(6, dtype=np.int16))[:, None]
    for top in range(0, height, 6):
        band = index[top:top + 6]
        passes = []
        for c in np.unique(band):
            bits = ((band == c) * weights[:len(band)]).sum(axis=0)
            passes.append(f"#{c}{_runs(bits)}")
        out.append("$".join(passes) + ("-" if top + 6 < height else ""))
    out.append("\x1b\\")
    return "".join(out)


def _runs(bits: np.ndarray) -> str:
    """One colour's six-pixel columns as sixel characters, repeats as `!count` (from four on)."""
    starts = np.flatnonzero(np.diff(bits, prepend=-1))
    lengths = np.diff(np.append(starts, len(bits)))
    text = []
    for start, length in zip(starts, lengths):
        char = chr(63 + int(bits[start]))
        text.append(f"!{length}{char}" if length >= 4 else char * int(length))
    return "".join(text)


def previewer(lib: Library) -> Callable[[Hit], str | None] | None:
    """What draws a result's thumbnail in this terminal, or None after saying in one line (on
    stderr) that it cannot."""
    if not _isatty(sys.stdout):  # a pipe or a file: the pictures would be escape codes in it
        print(NOT_A_TERMINAL, file=sys.stderr)
        return None
    protocol = detect()
    if protocol is None:
        print(CANNOT, file=sys.stderr)
        return None

    def draw(hit: Hit) -> str | None:
        jpeg = lib.thumbnail(hit.id, hit.time)  # a video: the frame of its moment
        return picture(jpeg, protocol) if jpeg else None
    return draw
