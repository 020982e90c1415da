"""What the decode journal (`indexing.inflight`) costs a run that never crashes.

2,000 small distinct JPEGs (crops of the demo's real photos, 160 to 512 px) are indexed with the
tiny-shapes model, so reading and bookkeeping are most of the work, by:

* `picfind index --json` of this tree and, in the same run and alternating with it, of
  `--baseline` (default `main`, its sources exported with `git archive`), each into a fresh
  catalog, `--repeat` times: the run's own seconds (the report's), median;
* the read stage alone, in this process on the same reader threads: `read_file` of every file
  as the indexer runs it, with and without the journal around it (alternating, median);
* one journal entry written and cleared, per file (µs), and one run's journal opened and closed.

    .venv/bin/python benchmarks/inflight.py [--files 2000] [--repeat 6] [--baseline main]

The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from picfind.indexing.inflight import Journal  # noqa: E402
from picfind.indexing.quarantine import Quarantine  # noqa: E402
from picfind.indexing.stages import IndexOptions, Runner, Task, auto_workers, read_file  # noqa: E402
from picfind.models.store import resolve  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from watch import make_pictures  # noqa: E402  (the same real-photo crops)

MODEL = "tiny-shapes"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def index_seconds(src: Path, root: Path, db: Path) -> tuple[float, float]:
    """The seconds a fresh `picfind index` run of the sources at `src` reports for `root`, and
    the CPU seconds of its process."""
    env = {"PYTHONPATH": str(src), "PICFIND_MODEL": MODEL, "PATH": "/usr/bin:/bin"}
    cpu = children_cpu()
    done = subprocess.run([sys.executable, "-m", "picfind", "index", str(root), "--db", str(db), "--json"],
                          capture_output=True, text=True, env=env, check=True)
    report = json.loads(done.stdout)
    assert report["embedded"] > 0 and report["skipped_total"] == 0, report
    return report["seconds"], children_cpu() - cpu


def read_stage(tasks: list[Task], folder: Path | None) -> tuple[float, float]:
    """Seconds (and CPU seconds) to read every task on the indexer's reader threads, journaled in
    `folder` (None: bare)."""
    prep, options = resolve(MODEL).preprocessing, IndexOptions()

    def bare(task: Task):
        return read_file(task, frozenset(), prep, options)

    quarantine = Quarantine(folder, lambda task: None) if folder else None
    read = (lambda task: quarantine.read(task, bare)) if quarantine else bare
    workers = auto_workers()
    start, cpu = time.perf_counter(), time.process_time()
    for result in Runner(workers).imap(read, tasks, 4 * workers):
        assert result.skip is None, result.skip
    if quarantine:
        quarantine.close(written=True, whole=True)
    return time.perf_counter() - start, time.process_time() - cpu


def entry_us(folder: Path, n: int = 100_000) -> tuple[float, float]:
    """µs to write and clear one entry; ms to open and close a run's journal."""
    start = time.perf_counter()
    journal = Journal(folder)
    journal.open()
    opened = time.perf_counter() - start
    path = str(folder / "IMG_0000.jpg")
    start = time.perf_counter()
    for _ in range(n):
        with journal.reading(path):
            pass
    per = (time.perf_counter() - start) / n
    start = time.perf_counter()
    journal.close(None)
    return per * 1e6, (opened + time.perf_counter() - start) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=6, help="even: each side goes first as often")
    ap.add_argument("--baseline", default="main", help="the commit to compare with (git archive)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        paths = make_pictures(tmp_path / "photos", args.files)
        base = tmp_path / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        runs: dict[str, list[tuple[float, float]]] = {"this": [], args.baseline: []}
        reads: dict[str, list[tuple[float, float]]] = {"journal": [], "bare": []}
        tasks = [Task(str(p), 1, p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
        read_stage(tasks, None)  # warm: the decoders' lazy imports, the files in the page cache
        for i in range(args.repeat):
            for name, src in (("this", REPO / "src"), (args.baseline, base / "src"))[::1 if i % 2 else -1]:
                runs[name].append(index_seconds(src, tmp_path / "photos", tmp_path / f"{name}-{i}.db"))
            for name in ("journal", "bare")[::1 if i % 2 else -1]:
                reads[name].append(read_stage(tasks, tmp_path / "journal" if name == "journal" else None))
        per_file_us, open_close_ms = entry_us(tmp_path / "micro")
    rows = {"picfind index": (runs["this"], runs[args.baseline]), "read stage": (reads["journal"], reads["bare"])}
    print(f"{args.files} JPEGs, {MODEL}, {auto_workers()} reader threads, median of {args.repeat} "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"{'':<24} {'this (journal)':>14} {args.baseline + ' (none)':>14} {'difference':>11}")
    figures = {}
    for name, (this, base) in rows.items():
        for i, unit in enumerate(("s", "CPU s")):
            a, b = statistics.median(r[i] for r in this), statistics.median(r[i] for r in base)
            figures[f"{name}, {unit}"] = [round(a, 3), round(b, 3)]
            print(f"{name + ', ' + unit:<24} {a:>14.3f} {b:>14.3f} {100 * (a / b - 1):>+10.1f}%")
    print(f"one entry written and cleared: {per_file_us:.1f} µs; a run's journal opened and closed: "
          f"{open_close_ms:.2f} ms")
    print(json.dumps({"files": args.files, "this_vs_baseline": figures, "entry_us": round(per_file_us, 2),
                      "journal_open_close_ms": round(open_close_ms, 2)}))


if __name__ == "__main__":
    main()
