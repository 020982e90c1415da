"""The README's screenshot of `picfind serve`: a sample library indexed with the built-in test
model, served on a free port, photographed in Debian's chromium.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import random
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from picfind.models.shapes import random_scene, render

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="docs/screenshot.png")
    ap.add_argument("--query", default="two red circles")
    args = ap.parse_args()
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "Pictures"
        lib.mkdir()
        rng = random.Random(5)
        for i in range(60):
            scene = random_scene(rng)
            render(scene, size=256, rng=rng).save(lib / f"{scene.colour}-{scene.shape}-{i}.png")
        for name in ("astronaut", "chelsea", "coffee", "rocket"):
            Image.fromarray(getattr(data, name)()).save(lib / f"{name}.jpg")
        db = Path(tmp) / "c.db"
        common = ["--db", str(db), "--model", "tiny-shapes"]
        subprocess.run([sys.executable, "-m", "picfind", "index", str(lib), *common, "-q"], check=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "picfind", "serve", *common, "--port", str(port)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            server.stdout.readline()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                page = browser.new_page(viewport={"width": 1100, "height": 640})
                page.goto(f"http://127.0.0.1:{port}/")
                page.fill("#q", args.query)
                page.wait_for_function("[...document.querySelectorAll('.tile img')].length > 8 && "
                                       "[...document.querySelectorAll('.tile img')].slice(0, 14)"
                                       ".every(i => i.complete && i.naturalWidth)")
                page.hover(".tile >> nth=1")
                page.screenshot(path=args.out)
                browser.close()
        finally:
            server.terminate()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
