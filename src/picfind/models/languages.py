"""Which language a query is in, offline, and which models read it.

Script ranges are the floor: a query in Cyrillic, Han, kana, Hangul, Arabic, Devanagari and the
other scripts below is not English whatever else is known. Within the Latin script, py3langid
(BSD-3-Clause; langid.py's 97-language model, 4.6 MB, inside its wheel, numpy only) tells German
from English when it is installed and sure; its model loads in about a second, so `preload` starts
that on a thread while the text encoder loads. Short Latin queries stay "unknown" rather than
guessed: a hint must never be wrong more often than it helps.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass

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

NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "sv": "Swedish", "da": "Danish", "no": "Norwegian", "fi": "Finnish", "pl": "Polish",
    "cs": "Czech", "sk": "Slovak", "hu": "Hungarian", "ro": "Romanian", "tr": "Turkish", "id": "Indonesian",
    "vi": "Vietnamese", "ru": "Russian", "uk": "Ukrainian", "bg": "Bulgarian", "el": "Greek", "he": "Hebrew",
    "ar": "Arabic", "fa": "Persian", "hi": "Hindi", "bn": "Bengali", "ta": "Tamil", "te": "Telugu",
    "th": "Thai", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "hr": "Croatian", "et": "Estonian",
    "lv": "Latvian", "lt": "Lithuanian", "sl": "Slovenian", "ca": "Catalan", "sw": "Swahili", "hy": "Armenian",
    "ka": "Georgian", "am": "Amharic", "km": "Khmer", "lo": "Lao", "my": "Burmese", "si": "Sinhala",
    "pa": "Punjabi", "gu": "Gujarati", "kn": "Kannada", "ml": "Malayalam", "mr": "Marathi", "ur": "Urdu",
}

# ISO 639-1 -> FLORES-200 (NLLB's language tokens), for the languages detected here.
FLORES = {
    "en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "es": "spa_Latn", "it": "ita_Latn", "pt": "por_Latn",
    "nl": "nld_Latn", "sv": "swe_Latn", "da": "dan_Latn", "no": "nob_Latn", "fi": "fin_Latn", "pl": "pol_Latn",
    "cs": "ces_Latn", "sk": "slk_Latn", "hu": "hun_Latn", "ro": "ron_Latn", "tr": "tur_Latn", "id": "ind_Latn",
    "vi": "vie_Latn", "ru": "rus_Cyrl", "uk": "ukr_Cyrl", "bg": "bul_Cyrl", "el": "ell_Grek", "he": "heb_Hebr",
    "ar": "arb_Arab", "fa": "pes_Arab", "hi": "hin_Deva", "bn": "ben_Beng", "ta": "tam_Taml", "te": "tel_Telu",
    "th": "tha_Thai", "zh": "zho_Hans", "ja": "jpn_Jpan", "ko": "kor_Hang", "hr": "hrv_Latn", "et": "est_Latn",
    "lv": "lvs_Latn", "lt": "lit_Latn", "sl": "slv_Latn", "ca": "cat_Latn", "sw": "swh_Latn", "hy": "hye_Armn",
    "ka": "kat_Geor", "am": "amh_Ethi", "km": "khm_Khmr", "lo": "lao_Laoo", "my": "mya_Mymr", "si": "sin_Sinh",
    "pa": "pan_Guru", "gu": "guj_Gujr", "kn": "kan_Knda", "ml": "mal_Mlym", "mr": "mar_Deva", "ur": "urd_Arab",
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
            return NAMES.get(self.language, self.language)
        return f"{self.script} script" if self.script else "no language"

    @property
    def english(self) -> bool:
        """Whether an English-only model may read it: English, or Latin that no one could tell."""
        return self.language == "en" or (self.script in ("Latin", "") and self.language is None)

    @property
    def flores(self) -> str | None:
        return FLORES.get(self.language or "")


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
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError:
                _identifier = False
            else:
                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier or None


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
