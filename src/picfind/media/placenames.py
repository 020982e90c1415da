"""Names people say for places, beside the ones GeoNames gives them: a country's common names,
a city's nicknames and former names, and the codes of US states, Australian states and
territories and Canadian provinces and territories. Every key and value is folded
(`records.fold`): lower case, no accents, words joined by one space."""

from __future__ import annotations

# A country: its code as GeoNames knows it
COUNTRY_ALIASES = {
    "usa": "us", "u s a": "us", "america": "us", "united states of america": "us", "the us": "us",
    "uk": "gb", "u k": "gb", "great britain": "gb", "britain": "gb", "holland": "nl", "the netherlands": "nl",
    "south korea": "kr", "korea": "kr", "north korea": "kp", "russia": "ru", "czechia": "cz", "iran": "ir",
    "syria": "sy", "laos": "la", "moldova": "md", "tanzania": "tz", "north macedonia": "mk", "vatican": "va",
    "vatican city": "va", "ivory coast": "ci", "brunei": "bn", "palestine": "ps", "uae": "ae", "emirates": "ae",
    "deutschland": "de", "espana": "es", "italia": "it", "nihon": "jp", "nippon": "jp", "schweiz": "ch",
    "suisse": "ch", "osterreich": "at", "brasil": "br", "turkiye": "tr", "polska": "pl", "sverige": "se",
}

# A city: the name GeoNames gives it (its area is searched, `places.spoken`)
CITY_ALIASES = {
    "nyc": "new york city", "new york ny": "new york city", "sf": "san francisco", "washington dc": "washington",
    "rio": "rio de janeiro", "bombay": "mumbai", "calcutta": "kolkata",
    "madras": "chennai", "peking": "beijing", "saigon": "ho chi minh city", "st petersburg": "saint petersburg",
    "vegas": "las vegas", "philly": "philadelphia", "cdmx": "mexico city", "cologne": "koln", "geneva": "geneve",
    "munchen": "munich", "wien": "vienna", "roma": "rome", "praha": "prague", "kiev": "kyiv",
    "den haag": "the hague", "lisboa": "lisbon", "warszawa": "warsaw", "milano": "milan", "firenze": "florence",
    "venezia": "venice", "napoli": "naples", "bruxelles": "brussels", "brussel": "brussels",
    "kobenhavn": "copenhagen", "moskva": "moscow", "athina": "athens",
}

_US_STATES = {
    "al": "alabama", "ak": "alaska", "az": "arizona", "ar": "arkansas", "ca": "california", "co": "colorado",
    "ct": "connecticut", "de": "delaware", "dc": "district of columbia", "fl": "florida", "ga": "georgia",
    "hi": "hawaii", "id": "idaho", "il": "illinois", "in": "indiana", "ia": "iowa", "ks": "kansas",
    "ky": "kentucky", "la": "louisiana", "me": "maine", "md": "maryland", "ma": "massachusetts",
    "mi": "michigan", "mn": "minnesota", "ms": "mississippi", "mo": "missouri", "mt": "montana",
    "ne": "nebraska", "nv": "nevada", "nh": "new hampshire", "nj": "new jersey", "nm": "new mexico",
    "ny": "new york", "nc": "north carolina", "nd": "north dakota", "oh": "ohio", "ok": "oklahoma",
    "or": "oregon", "pa": "pennsylvania", "ri": "rhode island", "sc": "south carolina", "sd": "south dakota",
    "tn": "tennessee", "tx": "texas", "ut": "utah", "vt": "vermont", "va": "virginia", "wa": "washington",
    "wv": "west virginia", "wi": "wisconsin", "wy": "wyoming", "washington dc": "district of columbia",
}
_AUSTRALIAN_STATES = {
    "nsw": "new south wales", "vic": "victoria", "qld": "queensland", "wa": "western australia",
    "sa": "south australia", "tas": "tasmania", "act": "australian capital territory", "nt": "northern territory",
}
_CANADIAN_PROVINCES = {
    "on": "ontario", "qc": "quebec", "bc": "british columbia", "ab": "alberta", "mb": "manitoba",
    "sk": "saskatchewan", "ns": "nova scotia", "nb": "new brunswick", "nl": "newfoundland and labrador",
    "pe": "prince edward island", "pei": "prince edward island", "nt": "northwest territories", "yt": "yukon",
    "nu": "nunavut",
}

# A region: every region the code names (WA: Washington and Western Australia), as GeoNames names it
REGION_CODES: dict[str, tuple[str, ...]] = {}
for _table in (_US_STATES, _AUSTRALIAN_STATES, _CANADIAN_PROVINCES):
    for _code, _region in _table.items():
        REGION_CODES[_code] = (*REGION_CODES.get(_code, ()), _region)
