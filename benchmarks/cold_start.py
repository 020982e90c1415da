"""Cold start: a fresh `picfind search` beside `picfind status` and `python -c pass`.

    .venv/bin/python benchmarks/cold_start.py [--runs 7] [--models tiny-shapes,vit-b-32-random]
        [--baseline REV] [--n 1000000] [--backends exact,hnsw]

For each model, a catalog of 12 generated pictures is indexed once, then every command runs as a
fresh process, all of them round-robin (so that other work on the machine hits each alike) after
one warm-up round; the table shows the median wall time and the median CPU time (user + system)
of `--runs` rounds. Commands: `python -c pass`, `picfind status`, `picfind search`, one query piped
into `picfind shell`, and `picfind serve` (seconds from launch until it answers, and the first
search alone, asked two seconds later as someone typing would). `--baseline REV` runs the same
search and status with picfind's code at git revision REV (its own catalog), in the same rounds;
the top five results of every variant are compared first (file names and scores). The models folder is
benchmarks/.cache/cold/models, so prepared copies (`picfind.models.prepared`) are made in the warm-up.

`--n N` (0: skip) adds the first query on a catalog of N CLIP-like vectors (vectors.py, 512-d, so
the text encoder is vit-b-32-random's) right after `picfind index` finished, for each backend in
`--backends`; then the first query after 1,000 pictures were removed without an index run (as
`picfind roots remove` leaves it), and with no stored index at all (what every first query paid
before `picfind index` wrote it, and what a change cost the exact index before it caught up).
The N files exist without N inodes: each path runs through one of N/1000 folders and back
(`d0042/../f007.jpg`), so the search's existence check sees real files. Built once per N in
benchmarks/.cache/cold/ (a few minutes at 1M; hnsw another four). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.request
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from encode import CACHE, random_bundle  # noqa: E402

from picfind.models.bundle import Bundle  # noqa: E402

WORK = CACHE / "cold"
QUERY = "a dog asleep on a red sofa"
PY = sys.executable


def timed(cmd: list[str], env: dict, stdin: str | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if stdin is not None:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
    return wall, usage.ru_utime + usage.ru_stime


_ports = iter(range(8800 + os.getpid() % 500 * 10, 65000))
PAUSE = 2.0  # seconds between the page being up and the first search: someone typing


def serve_timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Seconds from launch until the server answers, and the first search's own seconds when it
    comes PAUSE seconds later (a fresh port each time: the last one may still be held)."""
    port = next(_ports)
    start = time.perf_counter()
    proc = subprocess.Popen([*cmd, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/openapi.json", timeout=30).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"picfind serve exited with {proc.returncode}") from None
                time.sleep(0.01)
        up = time.perf_counter() - start
        time.sleep(PAUSE)
        asked = time.perf_counter()
        urllib.request.urlopen(f"{base}/api/search?q={QUERY.replace(' ', '+')}&n=5", timeout=60).read()
        return up, time.perf_counter() - asked
    finally:
        proc.terminate()
        proc.wait()


def answers(cmd: list[str], env: dict) -> list[tuple[str, float]]:
    """The top results by file name and score, to check that the answer did not change."""
    out = subprocess.run([*cmd, "search", QUERY, "-n", "5", "--json"], env=env, capture_output=True, text=True,
                         check=True).stdout
    return [(Path(h["path"]).name, h["score"]) for h in json.loads(out)]


def baseline_source(rev: str) -> Path:
    """picfind's src/ at git revision `rev`, unpacked once."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True,
                         check=True).stdout.strip()
    out = WORK / f"baseline-{sha}"
    if not (out / "src" / "picfind").is_dir():
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha, "src"], capture_output=True,
                                 check=True).stdout
        shutil.rmtree(out, ignore_errors=True)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(out, filter="data")
    return out / "src"


def small_catalog(cmd: list[str], env: dict, folder: Path) -> None:
    """12 generated pictures, indexed by `cmd`'s picfind into env's catalog."""
    from picfind.models.shapes import random_scene, render

    photos = folder / "photos"
    if not photos.is_dir():
        rng = random.Random(5)
        photos.mkdir(parents=True)
        for i in range(12):
            render(random_scene(rng), size=320, rng=rng).save(photos / f"{i:02d}.jpg")
    if not Path(env["PICFIND_DB"]).is_file():
        subprocess.run([*cmd, "index", str(photos), "-q"], env=env, check=True)


def large_catalog(n: int, model: str, backend: str) -> Path:
    """A catalog of n CLIP-like vectors whose files exist, indexed (stored index written) for `backend`."""
    from vectors import clip_like

    from picfind.catalogs.sqlite.catalog import Catalog
    from picfind.catalogs.sqlite.index_store import IndexStore
    from picfind.catalogs.sqlite.vectors import IndexSettings
    from picfind.records import IndexedFile

    folder = WORK / f"large-{n}"
    db = folder / "catalog.db"
    if not db.is_file():
        files = folder / "files"
        for d in range(max(1, n // 1000)):
            (files / f"d{d:04d}").mkdir(parents=True, exist_ok=True)
        for f in range(min(n, 1000)):
            (files / f"f{f:03d}.jpg").write_bytes(b"\xff\xd8")
        tmp = folder / "catalog.tmp.db"
        tmp.unlink(missing_ok=True)
        catalog = Catalog(tmp)
        root = catalog.add_root(str(files), ["jpg"], [])
        vectors = clip_like(n)
        for s in range(0, n, 20_000):
            chunk = range(s, min(s + 20_000, n))
            rows = [IndexedFile(f"{files}/d{i // 1000:04d}/../f{i % 1000:03d}.jpg", root.id, 2, 0, f"{i:032x}",
                                640, 480) for i in chunk]
            catalog.write_batch(model, rows, {r.content_hash: vectors[i] for r, i in zip(rows, chunk)}, [])
            print(f"\rlarge catalog: {chunk.stop:,} of {n:,} vectors", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        catalog.close()
        tmp.rename(db)
    catalog = Catalog(db)
    settings = IndexSettings.of(catalog)
    settings.backend = backend
    settings.save(catalog)
    IndexStore(catalog).sync(model)  # what `picfind index` does at its end
    catalog.close()
    return db


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--models", default="tiny-shapes,vit-b-32-random")
    ap.add_argument("--baseline", metavar="REV", help="also time picfind's code at this git revision")
    ap.add_argument("--n", type=int, default=0, help="vectors in the large catalog (0: skip it)")
    ap.add_argument("--backends", default="exact")
    ap.add_argument("--no-serve", action="store_true", help="skip picfind serve")
    args = ap.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, "PICFIND_MODELS_DIR": str(WORK / "models"), "PICFIND_OFFLINE": "1"}
    base_env.pop("PYTHONPATH", None)
    here = [PY, "-m", "picfind"]
    variants = {"picfind": (here, base_env)}
    if args.baseline:
        variants[f"baseline {args.baseline}"] = (here, {**base_env, "PYTHONPATH": str(baseline_source(args.baseline))})

    commands: dict[str, object] = {}  # label -> a function returning (wall, cpu)
    same: dict[str, list] = {}  # model -> each variant's answers
    commands["python -c pass"] = lambda: timed([PY, "-c", "pass"], base_env)
    for model in args.models.split(","):
        bundle = str(random_bundle("vit-b-32").path) if model == "vit-b-32-random" else model
        for label, (cmd, env) in variants.items():
            tag = "current" if label == "picfind" else label.split()[-1]
            env = {**env, "PICFIND_MODEL": bundle, "PICFIND_DB": str(WORK / f"{model}-{tag}" / "catalog.db")}
            small_catalog(cmd, env, WORK / f"{model}-{tag}")
            same.setdefault(model, []).append(answers(cmd, env))
            commands[f"{model}: {label} status"] = lambda cmd=cmd, env=env: timed([*cmd, "status"], env)
            commands[f"{model}: {label} search"] = lambda cmd=cmd, env=env: timed([*cmd, "search", QUERY, "-n", "5"],
                                                                                 env)
            if label == "picfind":
                commands[f"{model}: picfind shell, one query"] = (
                    lambda cmd=cmd, env=env: timed([*cmd, "shell"], env, stdin=QUERY + "\n"))
                if not args.no_serve:
                    commands[f"{model}: picfind serve: launch to up | first search {PAUSE:.0f} s later"] = (
                        lambda cmd=cmd, env=env: serve_timed(cmd, env))
    if args.n:
        bundle = str(random_bundle("vit-b-32").path)
        model = Bundle.load(bundle).name
        for backend in args.backends.split(","):
            db = large_catalog(args.n, model, backend)
            env = {**base_env, "PICFIND_MODEL": bundle, "PICFIND_DB": str(db)}
            commands[f"{args.n:,} vectors, {backend}: first search after index"] = (
                lambda env=env: timed([*here, "search", QUERY, "-n", "5"], env))

    for model, found in same.items():
        print(f"{model}: {'the same' if all(f == found[0] for f in found) else 'DIFFERENT'} top 5 (names, scores) "
              f"from {len(found)} variant(s)", flush=True)
    print(f"load average before: {load()}", flush=True)
    results: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
    for round_ in range(args.runs + 1):
        for label, fn in commands.items():
            figures = fn()
            if round_:
                results[label].append(figures)
        print(f"round {round_}/{args.runs} done (load {load()})", file=sys.stderr, flush=True)
    row = {}
    print(f"\nmedian of {args.runs} fresh processes, after one warm-up round; load average after: {load()}")
    print(f"{'command':<78} {'wall s':>7} {'cpu s':>7}   (serve: the two seconds shown)")
    for label, figures in results.items():
        wall, cpu = median([w for w, _ in figures]), median([c for _, c in figures])
        print(f"{label:<78} {wall:7.3f} {cpu:7.3f}")
        row[label] = [round(wall, 3), round(cpu, 3)]

    if args.n:
        model = Bundle.load(str(random_bundle("vit-b-32").path)).name
        db = WORK / f"large-{args.n}" / "catalog.db"
        env = {**base_env, "PICFIND_MODEL": str(random_bundle("vit-b-32").path), "PICFIND_DB": str(db)}
        for backend in args.backends.split(","):
            large_catalog(args.n, model, backend)
            walls = [removed_then_searched(db, model, env, r) for r in range(max(1, args.runs // 2))]
            label = f"{args.n:,} vectors, {backend}: first search after 1,000 were removed"
            print(f"{label:<78} {median(walls):7.3f}")
            row[label] = round(median(walls), 3)
            walls = []
            for _ in range(max(1, args.runs // 2)):
                shutil.rmtree(db.with_name(db.name + ".index"), ignore_errors=True)
                walls.append(timed([*here, "search", QUERY, "-n", "5"], env)[0])
            label = f"{args.n:,} vectors, {backend}: first search, no stored index"
            print(f"{label:<78} {median(walls):7.3f}")
            row[label] = round(median(walls), 3)
    print(json.dumps(row))


def removed_then_searched(db: Path, model: str, env: dict, round_: int) -> float:
    """Remove 1,000 pictures from the catalog as `picfind roots remove` does (no index run after),
    time the first search, then put them back and bring the stored index up to date again."""
    from picfind.catalogs.sqlite.catalog import Catalog
    from picfind.catalogs.sqlite.index_store import IndexStore
    from picfind.records import IndexedFile

    catalog = Catalog(db)
    rows = catalog.db.execute("SELECT path, root_id, content_hash FROM files ORDER BY id LIMIT 1000 OFFSET ?",
                              (round_ * 1000,)).fetchall()
    vectors = {h: catalog.vector_of(model, h) for _, _, h in rows}
    paths = [os.fsdecode(p) for p, _, _ in rows]
    catalog.write_batch(model, [], {}, [], gone=paths)
    catalog.prune_embeddings()
    wall = timed([PY, "-m", "picfind", "search", QUERY, "-n", "5"], env)[0]
    catalog.write_batch(model, [IndexedFile(p, root, 2, 0, h, 640, 480) for p, (_, root, h) in zip(paths, rows)],
                        vectors, [])
    IndexStore(catalog).sync(model)
    catalog.close()
    return wall


if __name__ == "__main__":
    main()
