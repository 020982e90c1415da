"""Which language a query is in, offline, and which models read it.

Script ranges are the floor: a query in Cyrillic, Han, kana, Hangul, Arabic, Devanagari and the
other scripts below is not English whatever else is known. Within the Latin script, py3langid
(BSD-3-Clause; langid.py's 97-language model, 4.6 MB, inside its wheel, numpy only) tells German
from English when it is installed and sure; its model loads in about a second, so `preload` starts
that on a thread while the text encoder loads. Short Latin queries stay "unknown" rather than
guessed: a hint must never be wrong more often than it helps.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Scripts by Unicode block: (first, last, script, the language it most likely means or "")
_RANGES = (
    (0x0370, 0x03FF, "Greek", "el"), (0x0400, 0x052F, "Cyrillic", "ru"), (0x0530, 0x058F, "Armenian", "hy"),
    (0x0590, 0x05FF, "Hebrew", "he"), (0x0600, 0x06FF, "Arabic", "ar"), (0x0750, 0x077F, "Arabic", "ar"),
    (0x0900, 0x097F, "Devanagari", "hi"), (0x0980, 0x09FF, "Bengali", "bn"), (0x0A00, 0x0A7F, "Gurmukhi", "pa"),
    (0x0A80, 0x0AFF, "Gujarati", "gu"), (0x0B80, 0x0BFF, "Tamil", "ta"), (0x0C00, 0x0C7F, "Telugu", "te"),
    (0x0C80, 0x0CFF, "Kannada", "kn"), (0x0D00, 0x0D7F, "Malayalam", "ml"), (0x0D80, 0x0DFF, "Sinhala", "si"),
    (0x0E00, 0x0E7F, "Thai", "th"), (0x0E80, 0x0EFF, "Lao", "lo"), (0x1000, 0x109F, "Myanmar", "my"),
    (0x10A0, 0x10FF, "Georgian", "ka"), (0x1100, 0x11FF, "Hangul", "ko"), (0x1200, 0x137F, "Ethiopic", "am"),
    (0x1780, 0x17FF, "Khmer", "km"), (0x3040, 0x30FF, "Kana", "ja"), (0x3400, 0x4DBF, "Han", "zh"),
    (0x4E00, 0x9FFF, "Han", "zh"), (0xAC00, 0xD7AF, "Hangul", "ko"), (0xF900, 0xFAFF, "Han", "zh"),
    (0xFB50, 0xFDFF, "Arabic", "ar"), (0xFE70, 0xFEFF, "Arabic", "ar"),
)

# ISO 639-1 code: (English name, FLORES-200 code: NLLB's language token), for the languages detected here.
LANGUAGES = {
    "en": ("English", "eng_Latn"), "de": ("German", "deu_Latn"), "fr": ("French", "fra_Latn"),
    "es": ("Spanish", "spa_Latn"), "it": ("Italian", "ita_Latn"), "pt": ("Portuguese", "por_Latn"),
    "nl": ("Dutch", "nld_Latn"), "sv": ("Swedish", "swe_Latn"), "da": ("Danish", "dan_Latn"),
    "no": ("Norwegian", "nob_Latn"), "fi": ("Finnish", "fin_Latn"), "pl": ("Polish", "pol_Latn"),
    "cs": ("Czech", "ces_Latn"), "sk": ("Slovak", "slk_Latn"), "hu": ("Hungarian", "hun_Latn"),
    "ro": ("Romanian", "ron_Latn"), "tr": ("Turkish", "tur_Latn"), "id": ("Indonesian", "ind_Latn"),
    "vi": ("Vietnamese", "vie_Latn"), "ru": ("Russian", "rus_Cyrl"), "uk": ("Ukrainian", "ukr_Cyrl"),
    "bg": ("Bulgarian", "bul_Cyrl"), "el": ("Greek", "ell_Grek"), "he": ("Hebrew", "heb_Hebr"),
    "ar": ("Arabic", "arb_Arab"), "fa": ("Persian", "pes_Arab"), "hi": ("Hindi", "hin_Deva"),
    "bn": ("Bengali", "ben_Beng"), "ta": ("Tamil", "tam_Taml"), "te": ("Telugu", "tel_Telu"),
    "th": ("Thai", "tha_Thai"), "zh": ("Chinese", "zho_Hans"), "ja": ("Japanese", "jpn_Jpan"),
    "ko": ("Korean", "kor_Hang"), "hr": ("Croatian", "hrv_Latn"), "et": ("Estonian", "est_Latn"),
    "lv": ("Latvian", "lvs_Latn"), "lt": ("Lithuanian", "lit_Latn"), "sl": ("Slovenian", "slv_Latn"),
    "ca": ("Catalan", "cat_Latn"), "sw": ("Swahili", "swh_Latn"), "hy": ("Armenian", "hye_Armn"),
    "ka": ("Georgian", "kat_Geor"), "am": ("Amharic", "amh_Ethi"), "km": ("Khmer", "khm_Khmr"),
    "lo": ("Lao", "lao_Laoo"), "my": ("Burmese", "mya_Mymr"), "si": ("Sinhala", "sin_Sinh"),
    "pa": ("Punjabi", "pan_Guru"), "gu": ("Gujarati", "guj_Gujr"), "kn": ("Kannada", "kan_Knda"),
    "ml": ("Malayalam", "mal_Mlym"), "mr": ("Marathi", "mar_Deva"), "ur": ("Urdu", "urd_Arab"),
}

# A Latin-script guess counts only this sure (py3langid's normalised probability) and this long.
MIN_PROBABILITY = 0.5
MIN_LATIN_LETTERS = 8


@dataclass(frozen=True)
class Detection:
    script: str  # "Latin", "Cyrillic", ... or "" (no letters)
    language: str | None  # ISO 639-1, or None when not sure

    @property
    def name(self) -> str:
        if self.language:
            return LANGUAGES.get(self.language, (self.language,))[0]
        return f"{self.script} script" if self.script else "no language"

    @property
    def english(self) -> bool:
        """Whether an English-only model may read it: English, or Latin that no one could tell."""
        return self.language == "en" or (self.script in ("Latin", "") and self.language is None)

    @property
    def flores(self) -> str | None:
        return LANGUAGES.get(self.language or "", ("", None))[1]


def script_of(text: str) -> tuple[str, str | None]:
    """The query's main script and the language it implies (Han with kana: Japanese)."""
    counts: dict[tuple[str, str], int] = {}
    latin = 0
    for ch in text:
        cp = ord(ch)
        if cp < 0x370:
            latin += ch.isalpha()
            continue
        for low, high, script, lang in _RANGES:
            if low <= cp <= high:
                counts[(script, lang)] = counts.get((script, lang), 0) + 1
                break
        else:
            latin += ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")
    if not counts:
        return ("Latin" if latin else ""), None
    (script, lang), n = max(counts.items(), key=lambda kv: kv[1])
    if script == "Han" and any(s == "Kana" for s, _ in counts):
        return "Han", "ja"
    if n * 2 < latin:  # a few foreign letters in a Latin query ("Café Москва"?): Latin wins
        return "Latin", None
    return script, lang


_identifier = None
_loading = threading.Lock()


def _latin_identifier():  # noqa: ANN202 - py3langid's LanguageIdentifier, or None when not installed
    global _identifier
    with _loading:
        if _identifier is None:
            try:
                from py3langid.langid import LanguageIdentifier
            except ImportError:
                _identifier = False
            else:
                ptc, pc, classes, nextmove, output, row = _model()
                _identifier = LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)
    return _identifier or None


_NAMES = ("ptc", "pc", "classes", "nextmove", "out_feat", "nextmove_row")


def _model() -> tuple:
    """py3langid's model as its own loader hands it over, from an unpacked copy in the models folder
    (`.langid/`, 68 MB, memory-mapped: 0.05 s) made from the wheel's LZMA file (0.9 s) on first use;
    where the folder cannot be written, from the LZMA file each time."""
    from py3langid import langid, modelio

    from picfind.models.paths import models_dir

    source = langid.MODEL_DIR / langid.MODEL_FILE
    folder = models_dir() / ".langid" / f"{source.stat().st_size}-{int(source.stat().st_mtime)}"
    try:
        ptc, pc, classes, nextmove, output, row = (np.load(folder / f"{n}.npy", mmap_mode="r") for n in _NAMES)
    except (OSError, ValueError):
        ptc, pc, classes, nextmove, row, output = modelio.load_model(source)
        _save(folder, (ptc, pc, np.array(classes), nextmove, np.asarray(output, dtype=np.int32), row))
        return np.asarray(ptc), np.asarray(pc), classes, nextmove, output, row
    return (np.asarray(ptc), np.asarray(pc), classes.tolist(), modelio._to_array(np.asarray(nextmove)),
            output.tolist(), modelio._to_array(np.asarray(row)))


def _save(folder: Path, arrays: tuple) -> None:
    """Write the unpacked model into place atomically; where it cannot be written, leave it."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent))
    except OSError:
        return
    try:
        for name, array in zip(_NAMES, arrays):
            np.save(tmp / f"{name}.npy", np.asarray(array))
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def preload() -> None:
    """Load the Latin-script detector on a thread of its own (about a second), if not yet."""
    if _identifier is None:
        threading.Thread(target=_latin_identifier, name="picfind-language", daemon=True).start()


def detect(text: str) -> Detection:
    script, language = script_of(text)
    if script != "Latin":
        return Detection(script, language)
    if sum(ch.isalpha() for ch in text) < MIN_LATIN_LETTERS or len(text.split()) < 2:
        return Detection(script, None)
    identifier = _latin_identifier()
    if identifier is None:
        return Detection(script, None)
    lang, probability = identifier.classify(text)
    return Detection(script, lang if probability >= MIN_PROBABILITY else None)
