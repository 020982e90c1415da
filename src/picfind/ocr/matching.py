"""How a query's words match the text read from a picture, tolerant of what OCR gets wrong.

Both sides are folded the same way (`fold`): case and accents dropped, anything that is not a
letter or digit becomes a space. A query word of 3+ characters matches when it is inside the
text (so "adlon" finds "HOTEL-ADLON" and "roadmap" finds "Q3 ROADMAP 2025"), also across a
space OCR put in ("road map"); a word of 6+ characters also matches with one character wrong,
missing or extra ("quittunq", "quitung"). Shorter words must match exactly: one slip in a
4-letter word matches too much.

The catalog finds candidates with a trigram index (`candidate_pieces` says which substrings a
match must contain) over `searchable(text)`; `match` then decides on each candidate's text, so
every catalog gives the same matches (`matching`).
"""

from __future__ import annotations

from dataclasses import dataclass

from picfind.records import fold  # one folding for OCR text and place names: case, accents, punctuation

MIN_WORD = 3  # shorter query words are not looked for in the text (a trigram index cannot)
FUZZY_MIN = 6  # words this long may match with one wrong character
# Candidates a catalog hands the matcher at most: a word whose pieces are in more texts than this
# says little (which of them come back then differs between catalogs).
MAX_CANDIDATES = 20_000


def searchable(text: str) -> str:
    """What a catalog indexes of a text: folded, then again without spaces (OCR splits words)."""
    folded = fold(text)
    return f"{folded}\n{folded.replace(' ', '')}"


def trigrams(text: str) -> list[str]:
    """The distinct 3-character substrings of `text` that hold no space or line break: a text
    contains a piece only if it holds all of the piece's trigrams (for catalogs with no trigram
    index of their own; `searchable` text in, folded query pieces as the probe)."""
    grams = (text[i:i + 3] for i in range(len(text) - 2))
    return sorted({g for g in grams if not any(c.isspace() for c in g)})


def query_words(text: str) -> list[str]:
    """The words of a query that are looked for in pictures' text, folded, each once."""
    return list(dict.fromkeys(w for w in fold(text).split() if len(w) >= MIN_WORD))


def candidate_pieces(word: str) -> list[str]:
    """Substrings one of which every text that matches `word` contains: the word itself when it
    must match exactly; else its two halves (one wrong character spoils at most one half)."""
    if len(word) < FUZZY_MIN:
        return [word]
    mid = len(word) // 2
    return [word[:mid], word[mid:]]


def within_one(word: str, text: str) -> bool:
    """Whether `word` occurs in `text` with at most one character substituted, inserted or
    deleted. Such an occurrence holds one of the word's halves exactly (one slip spoils at most
    one), so only short windows around where a half occurs are searched, not the whole text."""
    if word in text:
        return True
    n = len(word)
    if n < 2:
        return _sellers(word, text)
    mid = n // 2
    head, tail = word[:mid], word[mid:]
    for piece, before, after in ((head, 1, n + 2), (tail, mid + 2, len(tail) + 1)):
        at = text.find(piece)
        while at >= 0:
            if _sellers(word, text[max(0, at - before):at + after]):
                return True
            at = text.find(piece, at + 1)
    return False


def _sellers(word: str, text: str) -> bool:
    """`within_one` over the whole text: approximate substring search (Sellers' dynamic
    programme, values capped at 2)."""
    n = len(word)
    prev = list(range(n + 1))  # edit distance of word[:i] against a match ending before text[0]
    for ch in text:
        cur = [0]
        for i in range(1, n + 1):
            cost = 0 if word[i - 1] == ch else 1
            cur.append(min(prev[i - 1] + cost, prev[i] + 1, cur[i - 1] + 1, 2))
        if cur[n] <= 1:
            return True
        prev = cur
    return False


@dataclass(frozen=True)
class TextMatch:
    words: list[str]  # the query words found in the text (folded)
    exact: int  # how many of them were found exactly

    @property
    def score(self) -> float:
        """Ranks text matches: more words found first (every word above most), exact ones first."""
        return len(self.words) + 0.5 * self.exact


def match(words: list[str], text: str, least: int | None = None) -> TextMatch | None:
    """Which query words the (unfolded) text holds; None unless at least `least` of them are
    there (default: every one)."""
    folded = fold(text)
    squeezed = folded.replace(" ", "")
    need = len(words) if least is None else least
    found, exact = [], 0
    for i, word in enumerate(words):
        if word in folded or word in squeezed:
            exact += 1
        elif not (len(word) >= FUZZY_MIN and (within_one(word, folded) or within_one(word, squeezed))):
            if len(found) + len(words) - i - 1 < need:
                return None  # too few of the rest could still be there
            continue
        found.append(word)
    return TextMatch(found, exact) if found and len(found) >= need else None


def snippet(text: str, words: list[str], width: int = 60) -> str:
    """One line of the text around the first matched word, for the terminal."""
    line = " ".join(text.split())
    folded = [fold(c) or " " for c in line]  # per character, so positions line up with `line`
    flat = "".join(f[0] for f in folded)
    at = min((flat.find(w[:3]) for w in words if flat.find(w[:3]) >= 0), default=0)
    start = max(0, at - width // 3)
    cut = line[start:start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(line) else "")


def partial_least(words: list[str]) -> int:
    """How many of a query's words a text must hold to be a partial match: half, rounded up
    (one of two: `quartz hammock` finds the picture whose text was read only as HAMMOCK; a single
    common word of a long description lifts nothing)."""
    return (len(words) + 1) // 2


def matching(words: list[str], candidates: dict[str, str],
             least: int | None = None) -> dict[str, tuple[str, TextMatch]]:
    """The candidates (content hash -> text) whose text holds every one of these folded words
    (or `least` of them), with their text and how it matched: the one decision every catalog's
    search ends with."""
    found = {}
    for digest, text in candidates.items():
        m = match(words, text, least)
        if m is not None:
            found[digest] = (text, m)
    return found
