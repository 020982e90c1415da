"""`picfind watch` against the baseline of running `picfind index` after a copy.

1,000 pictures (crops of the real photos the demo uses, shipped in scikit-image and
scikit-learn, each a distinct JPEG) are copied into a watched root in bursts, as a phone sync
does. Measured, for the real `picfind watch --json` process:

* the seconds from the last write until every picture is in the catalog (searchable);
* the CPU seconds it used for those 1,000, and while idle for a minute afterwards (/proc);
* the pictures embedded again after a folder of them is moved inside the root (must be 0).

Baseline, in the same run: the same copy into a fresh catalog, then `picfind index` (the
seconds it takes, as cron would run it after the copy, and its CPU), and `picfind index` after
the same move.

    .venv/bin/python benchmarks/watch.py [--pictures 1000] [--bursts 10] [--idle 60]
    .venv/bin/python benchmarks/watch.py --big 100000   # one batch's cost in a large root
    .venv/bin/python benchmarks/watch.py --sync 60 --baseline-commit 7800119   # a steady sync, busy file

`--sync S`: one picture every `--every` seconds for S seconds (a phone sync) into a watched root
in which a download (`incoming/download.jpg`) and a log are written again and again all along
(and `--busy-after` seconds more). Measured for each picture: the seconds from its last write
until it is searchable, for this watcher and, in the same run, for the watcher of
`--baseline-commit` (its sources exported with `git archive`), and for `picfind index` run
once the sync is over.

The tiny-shapes model keeps the model's share small: what is measured is the watching, reading
and bookkeeping. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from picfind import Library  # noqa: E402

MODEL = "tiny-shapes"
MOVED = "burst-01"  # the folder moved inside the root
TICKS = os.sysconf("SC_CLK_TCK")


def make_pictures(folder: Path, n: int) -> list[Path]:
    """n distinct JPEGs: random crops (and sizes) of the demo's real photos."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(getattr(data, name)()).convert("RGB")
              for name in ("astronaut", "chelsea", "coffee", "rocket")]
    photos += [Image.fromarray(a) for a in load_sample_images().images]
    rng = random.Random(7)
    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        photo = rng.choice(photos)
        w, h = photo.size
        cw, ch = rng.randint(w // 2, w), rng.randint(h // 2, h)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        path = folder / f"IMG_{i:04d}.jpg"
        photo.crop((x, y, x + cw, y + ch)).save(path, quality=90)
        out.append(path)
    return out


def copy_in_bursts(pictures: list[Path], root: Path, bursts: int, pause: float) -> float:
    """Copy the pictures into root/burst-NN folders; returns when the last write ended (monotonic)."""
    per = -(-len(pictures) // bursts)
    for b in range(bursts):
        folder = root / f"burst-{b:02d}"
        folder.mkdir()
        for p in pictures[b * per:(b + 1) * per]:
            shutil.copyfile(p, folder / p.name)
        last = time.monotonic()
        if b < bursts - 1:
            time.sleep(pause)
    return last


def indexed(db: Path, under: str = "") -> int:
    with Library(db, model=MODEL) as lib:
        return lib.catalog.db.execute(
            "SELECT count(*) FROM files WHERE status = 'ok' AND CAST(path AS TEXT) LIKE ?", (f"%{under}%",)
        ).fetchone()[0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def wait_for(check, seconds: float = 600, step: float = 0.05) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise SystemExit(f"not done within {seconds} s")
        time.sleep(step)
    return time.monotonic()


def picfind(*args: str) -> tuple[dict, float, float]:
    """The real command; (its JSON, seconds, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "picfind", *args, "--model", MODEL, "--json"], check=True,
                         capture_output=True, text=True).stdout
    seconds = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return json.loads(out), seconds, cpu


def run_watch(tmp: Path, pictures: list[Path], args: argparse.Namespace) -> dict:
    root, db = tmp / "watched", tmp / "watched.db"
    root.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "watch", str(root), "--db", str(db), "--model", MODEL,
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    lines: queue.Queue[dict] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(json.loads(x)) for x in proc.stdout], daemon=True).start()
    try:
        lines.get(timeout=120)  # the first scan: watching
        cpu0 = cpu_seconds(proc.pid)
        last_write = copy_in_bursts(pictures, root, args.bursts, args.pause)
        done = wait_for(lambda: indexed(db) == len(pictures))
        cpu_copy = cpu_seconds(proc.pid) - cpu0
        time.sleep(3)  # the last batch's report is out; then idle
        cpu1 = cpu_seconds(proc.pid)
        time.sleep(args.idle)
        cpu_idle = cpu_seconds(proc.pid) - cpu1
        while not lines.empty():
            lines.get()
        moved = sum(1 for _ in (root / MOVED).iterdir())
        (root / "moved").mkdir()
        (root / MOVED).rename(root / "moved" / MOVED)
        t = time.monotonic()
        wait_for(lambda: indexed(db, f"/moved/{MOVED}/") == moved and indexed(db) == len(pictures))
        move_seconds = time.monotonic() - t
        time.sleep(args.settle_wait)
        batches = []
        while not lines.empty():
            batches.append(lines.get())
    finally:
        proc.terminate()
        proc.wait(30)
    return {"seconds_after_last_write": done - last_write, "cpu_seconds_copy": cpu_copy,
            "cpu_seconds_idle_minute": cpu_idle * 60 / args.idle, "moved_files": moved,
            "moved_reported": sum(b["moved"] for b in batches),
            "reembedded_after_move": sum(b["embedded"] for b in batches), "move_seconds": move_seconds}


def run_index(tmp: Path, pictures: list[Path], args: argparse.Namespace) -> dict:
    root, db = tmp / "cron", tmp / "cron.db"
    root.mkdir()
    copy_in_bursts(pictures, root, args.bursts, args.pause)
    report, seconds, cpu = picfind("index", str(root), "--db", str(db))
    assert report["embedded"] == len(pictures), report
    (root / "moved").mkdir()
    (root / MOVED).rename(root / "moved" / MOVED)
    again, move_seconds, _ = picfind("index", "--db", str(db))
    return {"seconds_after_last_write": seconds, "cpu_seconds_copy": cpu, "cpu_seconds_idle_minute": 0.0,
            "reembedded_after_move": again["embedded"], "move_seconds": move_seconds}


def scoped_batch(tmp: Path, pictures: list[Path], files: int) -> float:
    """Seconds for one watch batch (10 new pictures in one folder) in a root whose catalog already
    lists `files` files: the rows are written directly, as if indexed (no files on disk for them)."""
    import numpy as np

    from picfind.records import IndexedFile

    root, db = tmp / f"big-{files}", tmp / f"big-{files}.db"
    (root / "new").mkdir(parents=True)
    with Library(db, model=MODEL) as lib:
        (r,) = lib.add_roots([str(root)])
        vec = np.zeros(lib.bundle.embedding_dim, np.float32)
        for start in range(0, files, 10_000):
            rows = [IndexedFile(f"{root}/old/{i // 500:04d}/IMG_{i:06d}.jpg", r.id, 1000, 1, f"h{i}", 1, 1)
                    for i in range(start, min(files, start + 10_000))]
            lib.catalog.write_batch(lib.model, rows, {f.content_hash: vec for f in rows}, [])
        lib.catalog.sync_index(lib.model)
        for p in pictures[:10]:
            shutil.copyfile(p, root / "new" / p.name)
        t = time.monotonic()
        # what one watch batch runs
        report = lib._index_roots([r], lib._prepare(None), scope={r.id: [str(root / "new")]})
        seconds = time.monotonic() - t
        assert report.added == 10 and report.removed == 0, report
    return seconds


def _busy(root: Path, stop: threading.Event) -> None:
    """A download that never settles and a growing log, written again and again until `stop`."""
    (root / "incoming").mkdir()
    while not stop.is_set():
        for p in (root / "incoming" / "download.jpg", root / "app.log"):
            with open(p, "ab") as f:
                f.write(os.urandom(4096))
        stop.wait(0.02)


def run_sync(tmp: Path, pictures: list[Path], args: argparse.Namespace, src: Path, label: str) -> dict:
    """A steady sync into a watched root beside a busy file: each picture's seconds from its last
    write until searchable (`src`: whose watcher runs)."""
    root, db = tmp / f"sync-{label}", tmp / f"sync-{label}.db"
    (root / "DCIM").mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "watch", str(root), "--db", str(db), "--model", MODEL,
                             "--json", "--settle", str(args.settle)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(src)})
    stop, written, seen = threading.Event(), {}, {}
    busy = threading.Thread(target=_busy, args=(root, stop), daemon=True)
    try:
        proc.stdout.readline()  # the first scan: watching
        busy.start()
        with Library(db, model=MODEL) as lib:
            def look() -> bool:
                now = time.monotonic()
                for (path,) in lib.catalog.db.execute("SELECT CAST(path AS TEXT) FROM files WHERE status = 'ok'"):
                    seen.setdefault(path, now)
                return all(p in seen for p in written)
            t0 = time.monotonic()
            n = int(args.sync / args.every)
            def looking(until: float) -> None:  # the catalog looked at every 0.03 s meanwhile
                while time.monotonic() < until:
                    look()
                    time.sleep(0.03)
            for i, p in enumerate(pictures[:n]):
                target = root / "DCIM" / p.name
                shutil.copyfile(p, target)
                written[str(target)] = time.monotonic()
                looking(t0 + (i + 1) * args.every)
            sync_end = time.monotonic()
            during = sum(1 for p in written if p in seen)
            looking(sync_end + args.busy_after)
            stop.set()
            wait_for(look, seconds=120 + args.busy_after)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(30)
    lags = [seen[p] - t for p, t in written.items()]  # in the order written
    return {"pictures": len(written), "searchable_during_sync": during, "sync_seconds": sync_end - t0,
            **_spread(lags), "lag_first_s": lags[0], "lag_max_at": lags.index(max(lags))}


def _spread(lags: list[float]) -> dict:
    lags = sorted(lags)
    return {"lag_median_s": lags[len(lags) // 2], "lag_p90_s": lags[int(len(lags) * 0.9)], "lag_max_s": lags[-1]}


def sync_then_index(tmp: Path, pictures: list[Path], args: argparse.Namespace) -> dict:
    """The baseline: the same sync with nobody watching, then `picfind index`."""
    root, db = tmp / "sync-cron", tmp / "sync-cron.db"
    (root / "DCIM").mkdir(parents=True)
    written = {}
    t0 = time.monotonic()
    n = int(args.sync / args.every)
    for i, p in enumerate(pictures[:n]):
        shutil.copyfile(p, root / "DCIM" / p.name)
        written[p.name] = time.monotonic()
        time.sleep(max(0.0, t0 + (i + 1) * args.every - time.monotonic()))
    _, seconds, _ = picfind("index", str(root), "--db", str(db))
    done = time.monotonic()
    return {"pictures": len(written), "searchable_during_sync": 0, **_spread([done - t for t in written.values()]),
            "index_seconds": seconds}


def sync_main(tmp: Path, args: argparse.Namespace) -> None:
    pictures = make_pictures(tmp / "staging", int(args.sync / args.every))
    results = {"this": run_sync(tmp, pictures, args, REPO / "src", "this")}
    if args.baseline_commit:
        base = tmp / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline_commit, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        results[args.baseline_commit] = run_sync(tmp, pictures, args, base / "src", "base")
    results["index after"] = sync_then_index(tmp, pictures, args)
    print(f"{len(pictures)} pictures, one every {args.every:g} s for {args.sync:g} s, beside a download and a log "
          f"written every 0.02 s (until {args.busy_after:g} s after the sync); --settle {args.settle:g}")
    print(f"{'':<16} {'searchable during sync':>22} {'median s':>9} {'p90 s':>7} {'max s':>7}")
    for name, r in results.items():
        print(f"{name:<16} {r['searchable_during_sync']:>22} {r['lag_median_s']:>9.2f} {r['lag_p90_s']:>7.2f} "
              f"{r['lag_max_s']:>7.2f}")
    print(json.dumps({"sync": args.sync, "every": args.every, "settle": args.settle, **results}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pictures", type=int, default=1000)
    ap.add_argument("--bursts", type=int, default=10)
    ap.add_argument("--pause", type=float, default=2.0, help="seconds between bursts")
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idling measured")
    ap.add_argument("--settle-wait", type=float, default=3.0)
    ap.add_argument("--big", type=int, default=0, metavar="N",
                    help="only time one batch of 10 new pictures in a root of N catalogued files (and of 0)")
    ap.add_argument("--sync", type=float, default=0, metavar="S",
                    help="only measure a steady sync of S seconds beside a busy file")
    ap.add_argument("--every", type=float, default=0.15, help="--sync: seconds between pictures")
    ap.add_argument("--settle", type=float, default=1.0, help="--sync: the watcher's --settle")
    ap.add_argument("--busy-after", type=float, default=10.0, help="--sync: seconds the busy file goes on after")
    ap.add_argument("--baseline-commit", default="", help="--sync: also run the watcher of this commit")
    args = ap.parse_args()
    os.environ["PYTHONPATH"] = str(REPO / "src")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["PICFIND_MODELS_DIR"] = os.environ.get("PICFIND_MODELS_DIR", str(tmp / "models"))
        if args.sync:
            sync_main(tmp, args)
            return
        if args.big:
            pictures = make_pictures(tmp / "staging", 10)
            small, big = scoped_batch(tmp, pictures, 0), scoped_batch(tmp, pictures, args.big)
            print(f"one batch of 10 new pictures: {small:.2f} s in an empty root, {big:.2f} s in a root of "
                  f"{args.big:,} files")
            print(json.dumps({"batch_of_10_empty_root_s": round(small, 3), "batch_of_10_big_root_s": round(big, 3),
                              "big_root_files": args.big}))
            return
        pictures = make_pictures(tmp / "staging", args.pictures)
        size = sum(p.stat().st_size for p in pictures) / 2**20
        print(f"{len(pictures)} pictures ({size:.0f} MiB) copied in {args.bursts} bursts, {args.pause:g} s apart; "
              f"{os.cpu_count()} cores", flush=True)
        watch = run_watch(tmp, pictures, args)
        cron = run_index(tmp, pictures, args)
    print(f"{'':<34} {'picfind watch':>14} {'index after copy':>17}")
    for key, label in (("seconds_after_last_write", "s from last write to searchable"),
                       ("cpu_seconds_copy", "CPU s to index them"),
                       ("cpu_seconds_idle_minute", "CPU s idle, per minute"),
                       ("reembedded_after_move", "re-embedded after a move"),
                       ("move_seconds", "s until the move is in")):
        print(f"{label:<34} {watch[key]:>14.2f} {cron[key]:>17.2f}")
    print(json.dumps({"pictures": len(pictures), "bursts": args.bursts, "pause": args.pause, "watch": watch,
                      "index": cron}))


if __name__ == "__main__":
    main()
