"""Re-scan speed: seconds for `picfind index` to confirm that 100k indexed files are unchanged.

A re-scan only stats files (no reads). The baseline, in the same run, is the floor any tool
pays: walking the same tree with os.walk and stat-ing every file.

    .venv/bin/python benchmarks/rescan.py [--files 100000]

The catalog is filled directly (no model run), as if the files had been indexed; the real
`picfind index` command then re-scans it. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from picfind.catalogs.sqlite.catalog import Catalog  # noqa: E402
from picfind.indexing.crawl import DEFAULT_EXCLUDES  # noqa: E402
from picfind.media.formats import EXTENSIONS  # noqa: E402
from picfind.models.store import resolve  # noqa: E402
from picfind.records import IndexedFile  # noqa: E402


def make_tree(root: Path, n: int, per_folder: int = 500) -> list[Path]:
    paths = []
    for i in range(n):
        folder = root / f"{i // per_folder:04d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        p = folder / f"IMG_{i:06d}.jpg"
        p.write_bytes(i.to_bytes(4, "little"))
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=100_000)
    args = ap.parse_args()
    model = resolve("tiny-shapes")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "photos")
        t = time.perf_counter()
        paths = make_tree(root, args.files)
        print(f"made {args.files} files in {time.perf_counter() - t:.1f} s", flush=True)
        db = Path(tmp, "catalog.db")
        cat = Catalog(db)
        r = cat.add_root(str(root), list(EXTENSIONS), list(DEFAULT_EXCLUDES))  # as `picfind index` adds it
        vec = np.zeros(model.embedding_dim, np.float32)
        for start in range(0, len(paths), 10_000):
            chunk = paths[start:start + 10_000]
            files = []
            for p in chunk:
                st = p.stat()
                files.append(IndexedFile(str(p), r.id, st.st_size, st.st_mtime_ns, f"h{p.name}", 1, 1))
            cat.write_batch(model.name, files, {f.content_hash: vec for f in files}, [])
        cat.close()

        t = time.perf_counter()
        count = 0
        for folder, _, names in os.walk(root):
            for name in names:
                os.stat(os.path.join(folder, name))
                count += 1
        walk_s = time.perf_counter() - t

        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "picfind", "index", "--db", str(db), "--model", "tiny-shapes",
                              "--json"], capture_output=True, text=True, check=True)
        picfind_s = time.perf_counter() - t
        report = json.loads(out.stdout)
        assert report["unchanged"] == args.files and report["read"] == 0, report
    print(f"{'files':>8} {'picfind index (s)':>18} {'os.walk+stat (s)':>17}")
    print(f"{args.files:>8} {picfind_s:>18.2f} {walk_s:>17.2f}")
    print(json.dumps({"files": args.files, "picfind_rescan_s": round(picfind_s, 2),
                      "walk_stat_s": round(walk_s, 2), "in_process_s": round(report["seconds"], 2)}))


if __name__ == "__main__":
    main()
