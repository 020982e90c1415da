"""What a Ray run's questions to the driver cost (`indexing/ray_questions.py`): how many the
driver answers, and the run's wall time, for new small pictures.

`--files` small distinct JPEGs (crops of the demo's real photos, `watch.make_pictures`) are
indexed with the tiny-shapes model on a local Ray cluster of 2 CPUs, so reading and bookkeeping
are most of the work. Two runs each: a first run (an empty catalog), and the same pictures into a
catalog that already holds other pictures (so the workers have something to ask about). This
tree and `--baseline` (its sources exported with `git archive`) alternate, each in a process of
its own with its own cluster (its start is not timed), `--repeat` times; medians.

    nice .venv/bin/python benchmarks/ray_questions.py [--files 200] [--repeat 2] [--baseline main]

The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = "tiny-shapes"
RUNS = ("first run", "known catalog")


def child(root: str, others: str, folder: str) -> None:
    """In a process whose PYTHONPATH is one side's sources: both runs, questions counted by topic."""
    import ray

    from picfind.indexing.ray_questions import Answers
    from picfind.library import Library

    questions: Counter = Counter()
    answer = Answers.reply

    def counted(self: Answers, topic: str, keys: list[str]) -> list[str] | str:
        questions[topic] += 1
        return answer(self, topic, keys)
    Answers.reply = counted  # type: ignore[method-assign]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    out = {}
    try:
        for name, before in zip(RUNS, (None, others)):
            with Library(f"{folder}/{name.replace(' ', '-')}.db", model=MODEL) as lib:
                if before:
                    lib.index([before])  # locally: the catalog knows other pictures
                questions.clear()
                start = time.perf_counter()
                report = lib.index([root], ray="auto")
                out[name] = {"seconds": time.perf_counter() - start, "embedded": report.embedded,
                             "questions": dict(questions)}
    finally:
        ray.shutdown()
    print(json.dumps(out))


def run_side(src: Path, root: Path, others: Path, folder: Path) -> dict:
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, __file__, "--child", str(root), str(others), str(folder)],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2, help="even: each side goes first as often")
    ap.add_argument("--baseline", default="main", help="the commit to compare with (git archive)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    sys.path.insert(0, str(REPO / "src"))
    sys.path.insert(0, str(REPO / "benchmarks"))
    from watch import make_pictures

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        pictures = make_pictures(tmp_path / "photos", args.files + 20)
        (tmp_path / "others").mkdir()
        for p in pictures[args.files:]:  # 20 other crops, for the catalog that knows some
            p.rename(tmp_path / "others" / p.name)
        base = tmp_path / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        sides = {"this": REPO / "src", args.baseline: base / "src"}
        runs: dict[str, list[dict]] = {name: [] for name in sides}
        for i in range(args.repeat):
            for name in list(sides)[::1 if i % 2 else -1]:
                runs[name].append(run_side(sides[name], tmp_path / "photos", tmp_path / "others",
                                           tmp_path / f"{name}-{i}"))
    print(f"{args.files} new JPEGs, {MODEL}, a local Ray cluster of 2 CPUs, median of {args.repeat} "
          f"(load average {os.getloadavg()[0]:.1f})")
    figures: dict[str, dict] = {}
    for run in RUNS:
        for name, results in runs.items():
            seconds = statistics.median(r[run]["seconds"] for r in results)
            asked = results[-1][run]["questions"]
            figures[f"{run}, {name}"] = {"seconds": round(seconds, 2), "questions": asked,
                                         "embedded": results[-1][run]["embedded"]}
            print(f"{run + ', ' + name:<32} {seconds:>7.2f} s  questions {sum(asked.values()):>4} {asked}")
    print(json.dumps({"files": args.files, "repeat": args.repeat, "runs": figures}))


if __name__ == "__main__":
    main()
