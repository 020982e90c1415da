"""A fresh `picfind search` starts quickly without changing its answer: the prepared text encoder
(same vectors, checked and rebuilt like the rest of the bundle), the encoder loading on its own
thread, and the imports a text search skips."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from picfind.models import prepared
from picfind.models import store as models
from picfind.models.bundle import Bundle, BundleError
from picfind.models.encoder import Encoder
from picfind.models.tokenizer import _PLAIN, clean

from .conftest import picfind, shape_files

TEXTS = ["a red circle", "two blue squares on a white background", "x", "three green triangles " * 20]


def _copy(bundle: Bundle) -> Path:
    return prepared.folder_for(bundle, bundle.text_tower)


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture()
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "shapes"
    folder.mkdir()
    for seed, (colour, shape) in enumerate((("red", "circle"), ("blue", "square"), ("green", "triangle"))):
        for i, img in enumerate(shape_files(colour, shape, n=2, seed=seed)):
            img.save(folder / f"{colour}-{shape}-{i}.png")
    db = tmp_path / "c.db"
    picfind("index", str(folder), "--db", str(db), "-q", check=True)
    return db


def _search(db: Path, query: str = "a red circle") -> list[tuple[str, float]]:
    out = json.loads(picfind("search", query, "--db", str(db), "--json", "-n", "6", check=True).stdout)
    return [(Path(h["path"]).name, h["score"]) for h in out]


def test_the_prepared_text_encoder_gives_the_same_vectors() -> None:
    bundle = models.resolve("tiny-shapes")
    plain = Encoder(bundle, device="cpu").encode_texts(TEXTS)
    fast = Encoder(bundle, device="cpu", prepared=True)
    assert np.abs(fast.encode_texts(TEXTS) - plain).max() <= 1e-6
    folder = _copy(bundle)
    assert fast._session(bundle.text_tower)._model_path == str(folder / prepared.GRAPH)  # the copy, not the source
    record = json.loads((folder / prepared.RECORD).read_text())
    assert record["source"]["sha256"] == bundle.files["text_model.onnx"]["sha256"]
    assert (folder / prepared.WEIGHTS).stat().st_size > 0.9 * (bundle.path / "text_model.onnx").stat().st_size
    again = Encoder(bundle, device="cpu", prepared=True)  # a later start loads the same copy
    assert np.abs(again.encode_texts(TEXTS) - plain).max() <= 1e-6


def test_a_preloading_encoder_gives_the_same_vectors_and_reports_errors_where_used(tmp_path: Path) -> None:
    bundle = models.resolve("tiny-shapes")
    plain = Encoder(bundle, device="cpu").encode_texts(TEXTS)
    enc = Encoder(bundle, device="cpu", prepared=True)
    enc.preload_text()
    enc.preload_text()  # a second call while loading is a no-op
    assert np.abs(enc.encode_texts(TEXTS) - plain).max() <= 1e-6
    broken = tmp_path / "broken"
    shutil.copytree(bundle.path, broken)
    (broken / "text_model.onnx").unlink()
    enc = Encoder(Bundle.load(broken), device="cpu", prepared=True)
    enc.preload_text()
    with pytest.raises(BundleError, match="text_model.onnx is missing"):
        enc.encode_text("a red circle")


def test_a_missing_encoder_is_one_line_from_the_command(tmp_path: Path, catalog: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(models.resolve("tiny-shapes").path, broken)
    (broken / "text_model.onnx").unlink()
    proc = picfind("search", "a red circle", "--db", str(catalog), "--model", str(broken))
    assert proc.returncode == 1
    assert "text_model.onnx is missing" in proc.stderr and proc.stderr.count("\n") == 1


def test_damaged_prepared_copies_are_made_again_and_answers_stay_the_same(catalog: Path) -> None:
    before = _search(catalog)
    bundle = models.resolve("tiny-shapes")
    folder = _copy(bundle)
    graph, weights, record = (folder / n for n in (prepared.GRAPH, prepared.WEIGHTS, prepared.RECORD))
    good, size = graph.read_bytes(), weights.stat().st_size

    _flip(graph, len(good) // 2)  # the graph is re-hashed on every start
    assert _search(catalog) == before and graph.read_bytes() == good
    weights.write_bytes(weights.read_bytes()[:-4096])  # truncated weights: the size gives it away
    assert _search(catalog) == before and weights.stat().st_size == size
    stale = json.loads(record.read_text())
    record.write_text(json.dumps({**stale, "onnxruntime": "0.0.1"}))  # another ONNX Runtime wrote it
    assert _search(catalog) == before and json.loads(record.read_text()) == stale
    shutil.rmtree(folder)
    assert _search(catalog) == before and graph.read_bytes() == good


def test_models_verify_checks_the_prepared_copy_and_rebuilds_a_damaged_one(catalog: Path) -> None:
    _search(catalog)
    folder = _copy(models.resolve("tiny-shapes"))
    weights = folder / prepared.WEIGHTS
    digest = json.loads((folder / prepared.RECORD).read_text())["files"][prepared.WEIGHTS]["sha256"]
    proc = picfind("models", "verify", "tiny-shapes", check=True)
    assert "prepared text_model.onnx: 2 files match their sha256" in proc.stdout

    _flip(weights, weights.stat().st_size // 2)  # one weight: loading cannot tell, verify can
    proc = picfind("models", "verify", "tiny-shapes")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "prepared" in line]
    assert lines == ["OK tiny-shapes: prepared text_model.onnx rebuilt (model.onnx.data: sha256 mismatch "
                     "(the file is corrupt or was changed))"]
    assert prepared.sha256_file(weights) == digest


def test_import_prepares_the_copy_and_remove_drops_it(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    shutil.copytree(models.resolve("tiny-shapes").path, src)
    manifest = json.loads((src / "manifest.json").read_text())
    (src / "manifest.json").write_text(json.dumps({**manifest, "name": "mine"}))
    picfind("models", "import", str(src), check=True)
    bundle = models.resolve("mine")
    folder = _copy(bundle)
    assert (folder / prepared.RECORD).is_file()
    picfind("models", "remove", "mine", check=True)
    assert not folder.exists()


def test_an_unwritable_models_folder_only_costs_the_prepared_copy(catalog: Path, tmp_path: Path) -> None:
    before = _search(catalog)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    proc = picfind("search", "a red circle", "--db", str(catalog), "--json", "-n", "6",
                   env={"PICFIND_MODELS_DIR": str(blocked / "models")}, check=True)
    assert [(Path(h["path"]).name, h["score"]) for h in json.loads(proc.stdout)] == before
    assert proc.stderr == ""


def test_a_text_search_imports_neither_pillow_nor_ftfy_nor_the_web_stack(catalog: Path) -> None:
    code = ("import sys; from picfind.cli.main import main; main(['search', 'two red circles', '-n', '3', '--db', "
            f"{str(catalog)!r}]); print(sorted({{'PIL', 'ftfy', 'usearch', 'starlette', 'tqdm'}} & set(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"


def test_plain_ascii_skips_ftfy_because_ftfy_would_leave_it_unchanged() -> None:
    import ftfy

    printable = [chr(c) for c in range(0x20, 0x7F)]
    assert [c for c in printable if not _PLAIN.fullmatch(c)] == ["&"]
    rng = random.Random(0)
    samples = ["a dog asleep on a red sofa", "<b>bold</b>", "it's 50% off!", "x" * 300, ""]
    samples += ["".join(rng.choice(printable) for _ in range(rng.randint(1, 60))) for _ in range(20_000)]
    for text in samples:
        if _PLAIN.fullmatch(text):
            assert ftfy.fix_text(text) == text, text
    # and the text that does need ftfy still gets it
    assert clean("caf\u00c3\u00a9 &amp; cr\u00c3\u00a8me") == "caf\u00e9 & cr\u00e8me"
    assert clean("\x1b[31mred\x1b[0m  circle") == "red circle"


def _forked(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (no other thread: a fork is allowed), searches forking their
    text side at any size."""
    head = "import sys, json; import picfind.library.searching as s; s.FORK_FROM = 0\n"
    return subprocess.run([sys.executable, "-c", head + code], capture_output=True, text=True)


def test_a_child_hands_back_its_values_in_order_and_a_failed_one_leaves_the_rest_to_the_caller() -> None:
    proc = _forked("""
import os, threading, time
from picfind.library.text_ahead import TextAhead
def good():
    yield [1, 2]
    yield ("hint",)
def fails():
    yield "first"
    raise RuntimeError("the child's own error")
ahead = TextAhead.start(good)
print(ahead.value(0), ahead.value(1), ahead.value(2))
ahead = TextAhead.start(fails)
print(ahead.value(0), ahead.value(1))
ahead = TextAhead.start(lambda: iter([time.sleep(60)]))
t = time.monotonic(); ahead.close(); print(time.monotonic() - t < 5)
try:
    os.waitpid(-1, os.WNOHANG)
except ChildProcessError:
    print("no child left")
read, write = os.pipe()  # a child stopped in the middle of a value
pid = os.fork()
if pid == 0:
    os._exit(0)
os.write(write, (100).to_bytes(8, "little") + b"cut short")
os.close(write)
print(TextAhead(pid, read).value(0))
threading.Thread(target=time.sleep, args=(1,)).start()
print(TextAhead.start(good))
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[1, 2] ('hint',) None", "first None", "True", "no child left", "None",
                                        "None"]
    assert proc.stderr == ""  # the failed child says nothing: the caller does that part itself


def test_a_search_whose_text_side_ran_in_a_child_answers_as_one_that_did_not(catalog: Path) -> None:
    proc = _forked(f"""
from picfind.library import Library
answers = []
for forks in (True, False):
    with Library({str(catalog)!r}) as lib:
        lib.forks_text = forks
        hits = lib.search('deux cercles rouges dans la neige', n=6)
        hint = lib.language_hint('deux cercles rouges dans la neige')
        from_child = lib._ahead is not None and len(lib._ahead._values) == 2 and not lib.text_encoder.loaded
        answers.append(([(h.path, round(h.score, 5)) for h in hits], hint, from_child))
print(json.dumps(answers))
""")
    assert proc.returncode == 0, proc.stderr
    (forked, hint, from_child), (plain, plain_hint, here) = json.loads(proc.stdout)
    assert from_child and not here  # the first had its vectors and hint from a child, the second made them
    assert forked == plain and len(plain) == 6
    assert hint == plain_hint and "looks French" in hint


def test_a_child_that_cannot_load_the_encoder_leaves_the_error_to_the_command(tmp_path: Path, catalog: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(models.resolve("tiny-shapes").path, broken)
    (broken / "text_model.onnx").unlink()
    proc = _forked(f"from picfind.cli.main import main; sys.exit(main(['search', 'a red circle', '--db', "
                   f"{str(catalog)!r}, '--model', {str(broken)!r}]))")
    assert proc.returncode == 1
    assert "text_model.onnx is missing" in proc.stderr and proc.stderr.count("\n") == 1


def test_an_answer_that_cannot_be_written_is_one_line_and_a_failure(catalog: Path) -> None:
    """The answering commands end without the interpreter's teardown: their last flush is theirs to
    check (a full disk under `> answer.txt`), and a reader gone (`| head`) is still no error."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # the answer waits in the buffer
    for command in (["status"], ["search", "a red circle"]):
        with open("/dev/full", "w") as full:
            proc = subprocess.run([sys.executable, "-m", "picfind", *command, "--db", str(catalog)], stdout=full,
                                  stderr=subprocess.PIPE, text=True, env=env)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("picfind: error: cannot write the answer") and proc.stderr.count("\n") == 1
    head = subprocess.run(f"{sys.executable} -m picfind search 'a red circle' --db {catalog} | head -c 1",
                          shell=True, capture_output=True, text=True, env=env)
    assert head.stderr == ""
