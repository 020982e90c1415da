"""Matching query words against OCR text, and both catalogs' text stores (SQLite: FTS5 trigram;
PostgreSQL: a GIN index of trigrams)."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from picfind.catalogs.opening import open_catalog
from picfind.catalogs.protocol import CatalogBackend
from picfind.catalogs.sqlite.catalog import Catalog
from picfind.ocr.matching import _sellers, candidate_pieces, fold, match, query_words, snippet, within_one
from picfind.records import IndexedFile


def test_fold_drops_case_accents_and_punctuation() -> None:
    assert fold("Hôtel  ADLON-Kempinski, Straße!") == "hotel adlon kempinski strasse"
    assert fold("Ça coûte 12,50 €") == "ca coute 12 50"
    assert query_words("the Hotel hotel a of Adlon") == ["the", "hotel", "adlon"]


def test_words_match_inside_longer_text_and_across_a_split() -> None:
    assert match(["adlon"], "HOTEL-ADLON BERLIN").words == ["adlon"]
    assert match(["road"], "Q3 ROADMAP 2025") is not None  # a substring of 3+ characters
    assert match(["roadmap"], "Q3 ROAD MAP").exact == 1  # OCR put a space inside the word
    assert match(["hotel", "adlon"], "Hôtel Adlon") is not None
    assert match(["hotel", "ritz"], "Hotel Adlon") is None  # every word must be there
    assert match([], "anything") is None


def test_one_wrong_character_only_in_long_words() -> None:
    assert match(["quittung"], "QUITTUNQ Nr 5").exact == 0  # substituted
    assert match(["quittung"], "quitung") is not None  # deleted
    assert match(["quittung"], "quitttung") is not None  # inserted
    assert match(["quittung"], "qultunq") is None  # two wrong
    assert match(["yodel"], "yodal") is None  # short words must match exactly
    assert within_one("zephyr", "a zepbyr b") and not within_one("zephyr", "zebra")


def test_the_windowed_slip_search_agrees_with_the_whole_text_search() -> None:
    # within_one only searches around where a half of the word occurs; on a 3-letter alphabet
    # near-misses of every kind are common, so any window that is too short shows up here
    rng = random.Random(7)
    agreed = found = 0
    for _ in range(4000):
        word = "".join(rng.choice("abc") for _ in range(rng.randint(2, 9)))
        text = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 40)))
        expected = _sellers(word, text)
        assert within_one(word, text) == expected, (word, text)
        agreed += 1
        found += expected
    assert 0.2 < found / agreed < 0.9  # both answers were exercised


def test_candidate_pieces_survive_any_single_slip() -> None:
    """The trigram prefilter must never lose a match that `match` would accept."""
    rng = random.Random(1)
    for _ in range(2000):
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(6, 12)))
        i = rng.randrange(len(word))
        c = rng.choice(string.ascii_lowercase)
        slip = rng.choice([word[:i] + c + word[i + 1:], word[:i] + word[i + 1:], word[:i] + c + word[i:]])
        text = f"xx {slip} yy"
        assert match([word], text) is not None
        assert any(p in fold(text) for p in candidate_pieces(word)), (word, slip)


def test_snippet_shows_the_matched_part() -> None:
    text = "Terms and conditions apply. " * 5 + "Receipt from HOTEL ADLON, Berlin. " + "Thank you. " * 5
    cut = snippet(text, ["adlon"])
    assert "HOTEL ADLON" in cut and cut.startswith("…") and len(cut) <= 62


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request, tmp_path: Path) -> Iterator[CatalogBackend]:
    """A catalog of each kind holding four files, contents h1..h4."""
    cat = open_catalog(tmp_path / "c.db" if request.param == "sqlite" else request.getfixturevalue("pg_url"))
    root = cat.add_root(str(tmp_path), ["png"], [])
    files = [IndexedFile(str(tmp_path / f"{h}.png"), root.id, 1, 1, h, 10, 10) for h in ("h1", "h2", "h3", "h4")]
    cat.write_batch("m", files, {}, [])
    yield cat
    cat.close()


def test_catalog_finds_contents_whose_text_matches(catalog: CatalogBackend, tmp_path: Path) -> None:
    catalog.put_texts("ocr-a", {"h1": "Receipt HÔTEL ADLON\nTotal 12.50", "h2": "Q3 ROADMAP",
                                "h3": "", "h4": "QUITTUNQ"})
    catalog.put_texts("ocr-b", {"h1": "something else"})
    assert catalog.texts_read("ocr-a") == {"h1", "h2", "h3", "h4"}
    assert catalog.count_texts("ocr-a") == (4, 3)
    assert set(catalog.text_matches("ocr-a", ["hotel", "adlon"])) == {"h1"}
    assert set(catalog.text_matches("ocr-a", ["oadma"])) == {"h2"}
    assert set(catalog.text_matches("ocr-a", ["quittung"])) == {"h4"}  # one slip, through the trigram prefilter
    assert catalog.text_matches("ocr-b", ["adlon"]) == {}  # texts of two OCR models never mix
    assert catalog.texts_of("ocr-a", ["h1", "h3"]) == {"h1": "Receipt HÔTEL ADLON\nTotal 12.50"}
    # a content read twice keeps its first text; pruning drops text no file holds
    catalog.put_texts("ocr-a", {"h2": "changed"})
    assert set(catalog.text_matches("ocr-a", ["roadmap"])) == {"h2"}
    catalog.write_batch("m", [], {}, [], gone=[str(tmp_path / "h1.png"), str(tmp_path / "h2.png")])
    catalog.prune_embeddings()
    assert catalog.texts_read("ocr-a") == {"h3", "h4"}
    assert catalog.text_matches("ocr-a", ["adlon"]) == {}
    if isinstance(catalog, Catalog):
        assert catalog.db.execute("SELECT count(*) FROM ocr_fts").fetchone()[0] == 1


def test_both_catalogs_find_the_same_matches(tmp_path: Path, pg_url: str) -> None:
    """The SQLite catalog's FTS5 trigram index and the PostgreSQL catalog's GIN index of trigrams
    feed the one matcher: on OCR-like texts (accents, case, punctuation, split words, slips)
    every query finds the same contents with the same words in both."""
    rng = random.Random(7)
    vocab = ["hôtel", "Adlon", "QUITTUNG", "roadmap", "Straße", "café", "Kempinski", "receipt", "total",
             "invoice", "Berlin", "zephyr", "x7", "Q3", "naïve", "ÉCOLE"]
    texts = {}
    for n in range(300):
        words = []
        for w in rng.sample(vocab, rng.randint(0, 5)):
            i = rng.randrange(len(w))
            slips = [w[:i] + rng.choice("lI1rn") + w[i + 1:], w[:i] + " " + w[i:], w[:i] + w[i + 1:]]
            w = rng.choice([w, w.upper(), *slips])
            words.append(w)
        texts[f"c{n:03d}"] = rng.choice([" ", "-", ", ", "\n"]).join(words)
    queries = [["hotel"], ["adlon"], ["quittung"], ["roadmap"], ["strasse"], ["cafe"], ["kempinski"], ["empins"],
               ["receipt", "total"], ["invoice", "berlin"], ["zephyr"], ["ecole"], ["naive"], ["ota"],
               ["hotel", "adlon", "cafe"], ["x7q"], ["nothing"]]
    answers = []
    for target in (tmp_path / "c.db", pg_url):
        cat = open_catalog(target)
        cat.put_texts("ocr", texts)
        answers.append([{h: m.words for h, (_, m) in cat.text_matches("ocr", q).items()} for q in queries])
        cat.close()
    sqlite_answers, pg_answers = answers
    assert sqlite_answers == pg_answers
    assert sum(map(len, sqlite_answers)) > 100  # the queries do find things
    for q, found in zip(queries, sqlite_answers):  # and exactly what the matcher accepts
        assert set(found) == {h for h, t in texts.items() if match(q, t) is not None}, q


def test_an_older_catalog_gains_the_text_tables_and_keeps_its_files(tmp_path: Path) -> None:
    import sqlite3

    from picfind.catalogs.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, TEXT_MIGRATION

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    before = MIGRATIONS.index(TEXT_MIGRATION)  # the schema before the text tables
    con.executescript("".join(MIGRATIONS[:before]) + f"PRAGMA user_version = {before};")
    con.execute("INSERT INTO roots(path, extensions, excludes, added_at) VALUES (?, '[]', '[]', 0)", (b"/p",))
    con.execute("INSERT INTO files(path, root_id, size, mtime_ns, content_hash, status) VALUES (?, 1, 1, 1, 'h', 'ok')",
                (b"/p/a.jpg",))
    con.commit()
    con.close()
    cat = Catalog(db)
    assert cat.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert cat.texts_read("any") == set()
    cat.put_texts("any", {"h": "Hotel Adlon"})
    assert set(cat.text_matches("any", ["adlon"])) == {"h"}
    assert cat.db.execute("SELECT count(*) FROM files").fetchone()[0] == 1
