"""OCR text search in the PostgreSQL catalog beside the SQLite one, in one run.

    .venv/bin/python benchmarks/text_search.py [--n 100000] [--repeat 20]

Both catalogs get the same n OCR-like texts (7 in 10 empty, as most photos hold no text; the
rest 2-40 words from a 20,000-word vocabulary, some with one character misread) through
`put_texts`, 1,000 per call as an indexing run's writer stores them; then `text_matches` (the
candidate index, then the one shared matcher) times a rare word, a common word, two words,
a word with one slip (a fuzzy query: two candidate pieces), and a 3-letter piece found in many
texts. Both must return the same contents (a query with more candidates than the cap, by count
only: which ones come back then differs): the script stops if they differ. SQLite: FTS5
trigram; PostgreSQL: a GIN index over the text's trigram array (pgserver 16.2, default settings,
unix socket). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgserver_scratch import scratch_server  # noqa: E402

from picfind.catalogs.opening import open_catalog  # noqa: E402
from picfind.ocr.matching import MAX_CANDIDATES  # noqa: E402
from picfind.search.textsearch import text_matches  # noqa: E402

OCR = "bench-ocr"


def make_texts(n: int, seed: int = 3) -> tuple[dict[str, str], list[str]]:
    rng = random.Random(seed)
    vocab = list(dict.fromkeys("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 11)))
                               for _ in range(20_000)))
    weights = [1 / (rank + 1) for rank in range(len(vocab))]  # Zipf-like: a few words are everywhere
    texts = {}
    for i in range(n):
        if rng.random() < 0.7:
            texts[f"{i:032x}"] = ""
            continue
        words = rng.choices(vocab, weights, k=rng.randint(2, 40))
        if rng.random() < 0.3:  # OCR misreads one character
            j = rng.randrange(len(words))
            w = words[j]
            k = rng.randrange(len(w))
            words[j] = w[:k] + rng.choice("l1I0") + w[k + 1:]
        texts[f"{i:032x}"] = " ".join(w.upper() if rng.random() < 0.3 else w for w in words)
    return texts, vocab


def queries(vocab: list[str]) -> dict[str, list[str]]:
    long = [w for w in vocab if len(w) >= 8]
    slipped = long[50][:3] + ("x" if long[50][3] != "x" else "y") + long[50][4:]
    return {"rare word": [vocab[3000]], "common word": [vocab[0]], "two words": [vocab[1], vocab[200]],
            "one slip (8+ letters)": [slipped], "3-letter piece": [vocab[2][:3]]}


def measure(target: str | Path, texts: dict[str, str], asks: dict[str, list[str]], repeat: int) -> dict:
    cat = open_catalog(target)
    try:
        items = list(texts.items())
        started = time.perf_counter()
        for i in range(0, len(items), 1000):
            cat.put_texts(OCR, dict(items[i:i + 1000]))
        out: dict = {"put_per_1000_ms": round(1000 * (time.perf_counter() - started) / (len(items) / 1000), 1)}
        answers = {}
        for name, words in asks.items():
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                found = text_matches(cat, OCR, words)
                times.append(1000 * (time.perf_counter() - t))
            capped = len(cat.text_candidates(OCR, words)) >= MAX_CANDIDATES  # then which ones come back differs
            answers[name] = None if capped else sorted(found)
            out[name] = {"found": len(found), "capped": capped, "p50_ms": round(float(np.median(times)), 2),
                         "p95_ms": round(float(np.percentile(times, 95)), 2)}
        return {"figures": out, "answers": answers}
    finally:
        cat.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    texts, vocab = make_texts(args.n)
    asks = queries(vocab)
    result: dict = {"n": args.n, "with_text": sum(bool(t) for t in texts.values()), "load": os.getloadavg()[0]}
    runs = {}
    with scratch_server() as (folder, server):
        for name, target in (("sqlite_fts5", folder / "catalog.db"), ("postgresql_gin", server.get_uri("bench"))):
            runs[name] = measure(target, texts, asks, args.repeat)
            result[name] = runs[name]["figures"]
            print(f"{name}: {result[name]}", flush=True)
    for name in asks:  # a query over the candidate cap is compared by count only
        one, other = runs["sqlite_fts5"]["answers"][name], runs["postgresql_gin"]["answers"][name]
        if one != other and one is not None and other is not None:
            raise SystemExit(f"the two catalogs found different contents for the {name}")
    result["same_answers"] = True
    result["load_after"] = os.getloadavg()[0]
    print(f"{'query':<24}{'found':>7}{'SQLite p50/p95 ms':>22}{'PostgreSQL p50/p95 ms':>25}")
    for name in asks:
        s, p = result["sqlite_fts5"][name], result["postgresql_gin"][name]
        found = f"{s['found']}{'*' if s['capped'] else ''}"
        print(f"{name:<24}{found:>7}{s['p50_ms']:>12.2f} / {s['p95_ms']:<8.2f}"
              f"{p['p50_ms']:>14.2f} / {p['p95_ms']:<8.2f}")
    print(f"{'put, per 1,000 texts':<24}{'':>7}{result['sqlite_fts5']['put_per_1000_ms']:>12.1f} ms"
          f"{result['postgresql_gin']['put_per_1000_ms']:>23.1f} ms")
    if any(result["sqlite_fts5"][name]["capped"] for name in asks):
        print(f"* more than {MAX_CANDIDATES:,} candidates: each catalog matched the first {MAX_CANDIDATES:,} it found")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
