"""The web server under a flood of uploads: does a search still answer, and is memory given back?

Starts the real `picfind serve` on a small catalog (tiny-shapes), times a search alone (the
baseline, same run), then sends N uploads of a ~22 MB PNG at once and times a search while they
run; reports each upload's status and the server's resident memory before, during and after.

    .venv/bin/python benchmarks/uploads.py [--uploads 30]

The last line is JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from picfind.models.shapes import random_scene, render  # noqa: E402


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))


def timed_search(url: str) -> tuple[int, float]:
    start = time.perf_counter()
    with urllib.request.urlopen(url + "api/search?q=a+red+circle&n=20", timeout=600) as r:
        r.read()
        return r.status, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uploads", type=int, default=30)
    args = ap.parse_args()
    env = {**os.environ, "PICFIND_MODEL": "tiny-shapes"}
    with tempfile.TemporaryDirectory() as tmp:
        pictures = Path(tmp) / "pics"
        pictures.mkdir()
        import random
        rng = random.Random(3)
        for i in range(200):
            render(random_scene(rng), size=128, rng=rng).save(pictures / f"{i:04d}.png")
        db = Path(tmp) / "c.db"
        subprocess.run([sys.executable, "-m", "picfind", "index", str(pictures), "--db", str(db), "-q"],
                       check=True, env=env)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "picfind", "serve", "--db", str(db), "--port", str(port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            server.stdout.readline()
            url = f"http://127.0.0.1:{port}/"
            timed_search(url)  # warm up
            alone = min(timed_search(url)[1] for _ in range(5))
            before = rss_mb(server.pid)
            noise = np.random.default_rng(1).integers(0, 255, (2800, 2800, 3), dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(noise).save(buf, "PNG", compress_level=0)
            body = buf.getvalue()
            codes: list[str] = []

            def upload() -> None:
                request = urllib.request.Request(url + "api/similar?n=3", data=body, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=600) as r:
                        codes.append(str(r.status))
                except urllib.error.HTTPError as e:
                    codes.append(str(e.code))
                except OSError as e:
                    codes.append(type(e).__name__)

            threads = [threading.Thread(target=upload) for _ in range(args.uploads)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            time.sleep(0.3)
            status, during = timed_search(url)
            peak = rss_mb(server.pid)
            for t in threads:
                t.join()
            flood = time.perf_counter() - start
            time.sleep(1)
            after = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(30)
    result = {"uploads": args.uploads, "upload_mb": round(len(body) / 2**20, 1),
              "search_alone_s": round(alone, 3), "search_during_s": round(during, 3), "search_status": status,
              "answers": {c: codes.count(c) for c in sorted(set(codes))}, "flood_s": round(flood, 1),
              "rss_before_mb": before, "rss_during_mb": peak, "rss_after_mb": after}
    print(f"search alone {alone * 1000:.0f} ms, during {args.uploads} uploads {during * 1000:.0f} ms "
          f"(status {status}); answers {result['answers']}; server memory {before} -> {peak} -> {after} MB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
