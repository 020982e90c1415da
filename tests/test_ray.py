"""`picfind index --ray`: a real local Ray cluster (2 CPUs) reads and embeds; the driver writes.
Ray is slow to start, so these tests are few and each checks much."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from .conftest import picfind, write_shapes
from .test_odd_files import tab_maker_jpeg

pytestmark = pytest.mark.slow


def index(db: str, *args: str) -> dict:
    return json.loads(picfind("index", *args, "--db", db, "--json", check=True, timeout=600).stdout)


def catalog_rows(db: Path) -> tuple[list, dict[str, np.ndarray]]:
    with sqlite3.connect(db) as con:
        files = con.execute("SELECT path, size, content_hash, status, reason, width, height FROM files "
                            "ORDER BY path").fetchall()
        rows = con.execute("SELECT content_hash, vector FROM embeddings")
        vectors = {h: np.frombuffer(v, np.float32) for h, v in rows}
    return files, vectors


def test_ray_builds_the_catalog_the_local_runner_builds(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write_shapes(lib, 40)
    (lib / "copy.png").write_bytes(sorted(lib.iterdir())[3].read_bytes())
    (lib / "copies").mkdir()  # copies in other batches than their originals: embedded once all the same
    for original in sorted(lib.glob("*.*"))[:6]:
        (lib / "copies" / original.name).write_bytes(original.read_bytes())
    (lib / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    tab_maker_jpeg(lib / "tab.jpg")  # the metadata that stopped every run (issue 23): read on a worker too
    local, clustered = tmp_path / "local.db", tmp_path / "ray.db"
    index(str(local), str(lib))
    report = index(str(clustered), str(lib), "--ray", "--batch-size", "8")
    assert report["device"].startswith("ray") and report["read"] == 49
    assert sum(report["skipped"].values()) == 1 and report["embedded"] + report["reused"] == 48
    files, vectors = catalog_rows(clustered)
    expected_files, expected_vectors = catalog_rows(local)
    assert files == expected_files
    distinct = len({p.read_bytes() for p in lib.rglob("*.*")}) - 1  # less the broken file
    assert vectors.keys() == expected_vectors.keys() and len(vectors) == distinct == report["embedded"]
    assert max(float(np.abs(vectors[h] - expected_vectors[h]).max()) for h in vectors) < 1e-5
    assert len(list((tmp_path / "ray.db.thumbs").rglob("*.jpg"))) == len(vectors)  # thumbnails came back as JPEG bytes
    detail = json.loads(picfind("status", "--db", str(clustered), "--json", "--skipped", check=True).stdout)
    assert "(on " in detail["skipped_files"][0]["detail"]  # which node could not read it
    assert index(str(clustered), "--ray")["read"] == 0  # unchanged files never reach the cluster
    (lib / "new.png").write_bytes((lib / "copy.png").read_bytes()[:-1] + b"\0")
    proc = picfind("index", "--db", str(clustered), "--ray", "auto")  # no cluster is running here
    assert proc.returncode == 1 and "cannot reach the Ray cluster at auto" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process under `pid` (Ray's workers are under the run's raylet)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            commands[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier}
        found += [(p, commands[p]) for p in frontier]
    return found


def _embedded(url: str) -> int:
    try:
        with psycopg.connect(url) as con:
            return con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except psycopg.Error:
        return 0  # the schema is not there yet


def test_a_killed_worker_and_ctrl_c_lose_nothing_on_a_shared_catalog(pg_url: str, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write_shapes(lib, 240, size=224)
    run = subprocess.Popen([sys.executable, "-m", "picfind", "index", str(lib), "--db", pg_url, "--json", "--ray",
                            "--batch-size", "4", "--commit-seconds", "0.1"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           # as from a terminal: a background runner (nohup, &) may have SIGINT ignored
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    killed, interrupted_at = None, None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
            embedded = _embedded(pg_url)
            if killed is None and embedded >= 8:
                workers = [p for p, cmd in _descendants(run.pid) if "EmbedWorker" in cmd]
                if workers:
                    killed, at = workers[0], embedded
                    os.kill(killed, signal.SIGKILL)
            elif killed is not None and embedded >= at + 16:  # the run went on; now Ctrl-C
                run.send_signal(signal.SIGINT)
                interrupted_at = time.monotonic()
                break
        assert killed, "the run ended before a worker could be killed"
        out, err = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    report = json.loads(out)
    if interrupted_at is not None:  # else the run finished first: nothing to stop
        assert run.returncode == 130 and report["interrupted"] and "again to continue" in err
        assert not [p for p, cmd in _descendants(run.pid) if "ray::" in cmd]  # the local cluster is gone
    else:
        assert run.returncode == 0 and report["read"] == 240
    # nothing embedded was lost: the next run (local) finishes the rest without a repeat
    again = index(pg_url, str(lib))
    assert again["unchanged"] == report["read"] - sum(report["skipped"].values())
    st = json.loads(picfind("status", "--db", pg_url, "--json", check=True).stdout)
    assert st["images_indexed"] == 240 and st["skipped"] == 0
    assert st["embedded_with_model"] == len({p.read_bytes() for p in lib.iterdir()})


def test_gpus_onnx_runtime_cannot_use_are_left_and_the_report_says_why(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU node with ONNX Runtime's CPU build (as on this machine, which has no GPU: the cluster
    declares one): the run embeds on the CPUs instead of one starved GPU actor, and says so. One
    worker with both CPUs reads in two threads and builds the same catalog. A later run over a
    catalog of known contents asks the catalog only about the contents its workers met: it never
    reads (nor ships the workers) every embedded hash, and each worker asks once per batch, not
    per picture; a first run (no vector yet) asks nothing."""
    import ray

    from picfind.indexing.ray_questions import Answers
    from picfind.indexing.stages import IndexOptions
    from picfind.library import Library
    from picfind.models.encoder import available_device

    if available_device() == "cuda":
        pytest.skip("ONNX Runtime here has the CUDA provider: the GPU would be used")
    lib = tmp_path / "lib"
    write_shapes(lib, 24)
    questions: list[str] = []  # the topic of each question the driver answered
    answer = Answers.reply

    def counted(self: Answers, topic: str, keys: list[str]) -> list[str] | str:
        questions.append(topic)
        return answer(self, topic, keys)
    monkeypatch.setattr(Answers, "reply", counted)
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        with Library(str(tmp_path / "gpu.db"), model="tiny-shapes") as library:
            report = library.index([str(lib)], ray="auto")
        with Library(str(tmp_path / "one.db"), model="tiny-shapes") as library:
            one = library.index([str(lib)], options=IndexOptions(workers=1), ray="auto")
        files, vectors = catalog_rows(tmp_path / "gpu.db")
        expected_files, expected_vectors = catalog_rows(tmp_path / "one.db")
        asked_first = len(questions)
        write_shapes(lib / "new", 24, seed=11)
        (lib / "new" / "copy.png").write_bytes(sorted(lib.glob("*.png"))[5].read_bytes())  # a known content
        with Library(str(tmp_path / "one.db"), model="tiny-shapes") as library:
            whole, asked = [], []  # reads of every embedded hash; hashes asked about while the cluster ran
            everything, has = library.catalog.embedded_hashes, library.catalog.has_vectors

            def every_hash(model: str) -> set[str]:
                whole.append(model)
                return everything(model)

            def some_hashes(model: str, hashes: list[str], *db: object) -> set[str]:
                if threading.current_thread() is not threading.main_thread():  # not the planner's
                    asked.extend(hashes)
                return has(model, hashes, *db)
            monkeypatch.setattr(library.catalog, "embedded_hashes", every_hash)
            monkeypatch.setattr(library.catalog, "has_vectors", some_hashes)
            more = library.index(options=IndexOptions(batch_size=8), ray="auto")
    finally:
        ray.shutdown()
    assert (more.read, more.embedded, more.reused) == (25, 24, 1)
    assert not whole and 1 <= len(set(asked)) <= more.read  # the contents met, not the 24 known
    assert asked_first == 0  # first runs: nothing to ask
    # 25 files in batches of 8: 4 batches (a few more where Ray Data's blocks split one), not 25 questions
    assert 1 <= len(questions) <= 6 and set(questions) == {"vectors"}
    assert report.embedded == one.embedded == 24
    assert report.device == ("ray (2 CPU workers, encoder on cpu; the cluster's 1 GPU unused: ONNX Runtime on "
                             f"{socket.gethostname()} has no CUDA provider (pip install onnxruntime-gpu there))")
    assert one.device.startswith("ray (1 CPU worker, encoder on cpu;")
    assert files == expected_files and vectors.keys() == expected_vectors.keys()
    assert max(float(np.abs(vectors[h] - expected_vectors[h]).max()) for h in vectors) < 1e-5
