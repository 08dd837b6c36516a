"""Normalisation: names in any script to comparable Latin tokens, identifiers to canonical forms.

Names go through: Unicode NFKC → removal of legal forms written in their own script (有限公司,
ООО, บริษัท … จำกัด, 주식회사, 株式会社, شركة) → transliteration to Latin (anyascii; Chinese
syllables paired into words) → case folding → punctuation (dots and apostrophes join, the
rest separates) → runs of single letters joined ("d o o" → "doo") → Latin legal forms of
many jurisdictions stripped at either end → generic business words mapped to one canonical
token each ("huagong", "chemicals" → "chemical"). "SIS DOO" and "SIS d.o.o." both become "sis".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from anyascii import anyascii

from index.legal_forms import (
    GENERIC_CANONICAL,
    LATIN_LEGAL_PREFIXES,
    LATIN_LEGAL_SUFFIXES,
    LEGAL_TOKENS_ANYWHERE,
    NAME_PARTICLES,
    NATIVE_LEGAL_FORMS,
    PINYIN_WORDS,
)
from index.near_words import NearWords

NAME_CACHE_SIZE = 1 << 16
TOKEN_CACHE_SIZE = 1 << 16  # builds normalise every name afresh, but tokens repeat
_LEGAL_TYPO_MIN = 6
_MAX_LEGAL_FORM_TOKENS = max(len(form) for form in LATIN_LEGAL_SUFFIXES | LATIN_LEGAL_PREFIXES)

_NATIVE_LEGAL_RE = re.compile(
    "|".join(re.escape(unicodedata.normalize("NFKC", form)) for form in NATIVE_LEGAL_FORMS)
)
_SUFFIX_ENDS = frozenset(form[-1] for form in LATIN_LEGAL_SUFFIXES)
_PREFIX_STARTS = frozenset(form[0] for form in LATIN_LEGAL_PREFIXES)
_CYRILLIC_LEGAL_RE = re.compile(
    r"(?<![\w])(ООО|ОАО|ЗАО|ПАО|НАО|АО|ТОО|ТОВ|ИП|ЧП|ПП|ОДО|ЧУП|УП|ЕООД|ООД|АД)(?![\w])"
)
_ARABIC_ARTICLE_RE = re.compile(r"(?<![\u0600-\u06FF])(?:ال|لل)(?=[\u0600-\u06FF])")
_GREEK_OU_RE = re.compile("ου|ού|Ου|ΟΥ|Ού")
_CJK_RUN_RE = re.compile(r"[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]+")
_SPLIT_RE = re.compile(r"[^a-z0-9]+")
_CAMEL_CASE_RE = re.compile(r"\b(?:[A-Z][a-z]*){3,}\b")
_CAMEL_SYLLABLE_RE = re.compile(r"[A-Z][a-z]*")
# Legal forms run into the name's last word ("DeFanYouXianGongSi", "AcmeGmbH").
_GLUED_LEGAL_SUFFIXES = ("youxiangongsi", "yuxiangongsi", "gongsi", "coltd", "gmbh")
_JOINERS = str.maketrans("", "", ".'’`´ʼ")
_SKELETON_DROP = str.maketrans("", "", "aeiouyhw")
_REPEAT_RE = re.compile(r"(.)\1+")


# Spelling variants of one sound across romanisation systems (Natalya/Natalia,
# Polychronopoulos/Polichronopoylos, Djordje/Jorje, Khan/Han), folded for a second opinion.
_PHONETIC_RULES = (
    ("dzh", "j"), ("dj", "j"), ("zh", "j"), ("kh", "h"), ("ph", "f"), ("oy", "u"), ("ou", "u"),
    ("ck", "k"), ("tz", "z"), ("w", "v"), ("y", "i"), ("q", "k"),
)  # fmt: skip
_DOUBLED_RE = re.compile(r"([a-z])\1+")


@lru_cache(maxsize=TOKEN_CACHE_SIZE)
def phonetic(text: str) -> str:
    for old, new in _PHONETIC_RULES:
        text = text.replace(old, new)
    return _DOUBLED_RE.sub(r"\1", text)


_GENERIC_WORDS = NearWords(GENERIC_CANONICAL, phonetic)
_LEGAL_WORDS = NearWords(
    {
        word: word
        for form in LATIN_LEGAL_SUFFIXES | LATIN_LEGAL_PREFIXES
        for word in form
        if len(word) >= _LEGAL_TYPO_MIN
    },
    phonetic,
)


@lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _canonical_token(token: str) -> str:
    """Generic business words to their canonical form, one typo allowed ("inteprnational")."""
    return _GENERIC_WORDS.get(token) or token


@lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _legal_token(token: str) -> str:
    """A legal-form word with a typo to the word itself ("limitzed" → "limited")."""
    return _LEGAL_WORDS.get(token) or token


@dataclass(frozen=True, slots=True)
class NormalizedName:
    """A name ready for matching.

    `tokens` keep the name's order; `core` leaves out generic business words ("trading",
    "chemical") so that two different firms in the same trade do not look alike; when a name
    is nothing but generic words, `core` is the whole name.
    """

    tokens: tuple[str, ...]
    core_tokens: tuple[str, ...]
    full: str
    core: str

    @classmethod
    def of(cls, tokens: tuple[str, ...], core_tokens: tuple[str, ...]) -> NormalizedName:
        return cls(tokens, core_tokens, " ".join(tokens), " ".join(core_tokens))


def _pinyin_words(run: str) -> str:
    """Chinese characters to pinyin words: known words first, otherwise syllables in pairs."""
    return _pinyin_join([anyascii(ch).lower() for ch in run])


@lru_cache(maxsize=1)
def _pinyin_syllables() -> frozenset[str]:
    return frozenset(
        syllable
        for code in range(0x4E00, 0xA000)
        if (syllable := anyascii(chr(code)).lower()).isalpha()
    )


def _camel_pinyin(match: re.Match[str]) -> str:
    """'AngGeXinXiWangLuo' (pinyin written by syllable capitals) → the words its characters
    give: 'angge xinxi wangluo'. Any other capitalised word is left as it is."""
    syllables = [s.lower() for s in _CAMEL_SYLLABLE_RE.findall(match.group())]
    if all(s in _pinyin_syllables() for s in syllables):
        return _pinyin_join(syllables)
    return match.group()


def _pinyin_join(syllables: list[str]) -> str:
    words: list[str] = []
    i = 0
    while i < len(syllables):
        for width in (4, 3, 2):
            candidate = "".join(syllables[i : i + width])
            if i + width <= len(syllables) and candidate in PINYIN_WORDS:
                words.append(candidate)
                i += width
                break
        else:
            words.append("".join(syllables[i : i + 2]))
            i += 2
    return " " + " ".join(words) + " "


def _to_latin(text: str) -> str:
    text = _NATIVE_LEGAL_RE.sub(" ", text)
    text = _CYRILLIC_LEGAL_RE.sub(" ", text)
    text = _ARABIC_ARTICLE_RE.sub("", text)
    text = _GREEK_OU_RE.sub("ou", text)
    text = _CJK_RUN_RE.sub(lambda m: _pinyin_words(m.group()), text)
    return anyascii(text)


def _join_single_letters(tokens: list[str]) -> list[str]:
    """'d o o' → 'doo', 's a de c v' → 'sa de cv': initials and dotted abbreviations."""
    out: list[str] = []
    run = ""
    for token in tokens:
        if len(token) == 1 and token.isalpha():
            run += token
            continue
        if run:
            out.append(run)
            run = ""
        out.append(token)
    if run:
        out.append(run)
    return out


def _strip_glued_legal_form(token: str) -> str:
    for suffix in _GLUED_LEGAL_SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        if tokens[-1] not in _SUFFIX_ENDS and tokens[0] not in _PREFIX_STARTS:
            break
        for width in range(min(_MAX_LEGAL_FORM_TOKENS, len(tokens) - 1), 0, -1):
            if tuple(tokens[-width:]) in LATIN_LEGAL_SUFFIXES:
                tokens = tokens[:-width]
                changed = True
                break
            if tuple(tokens[:width]) in LATIN_LEGAL_PREFIXES:
                tokens = tokens[width:]
                changed = True
                break
    return tokens


@lru_cache(maxsize=NAME_CACHE_SIZE)
def normalize_name(raw: str) -> NormalizedName:
    """The comparable form of a person's or organisation's name in any script."""
    text = unicodedata.normalize("NFKC", raw)
    if not text.isascii():
        text = _to_latin(text)
    text = _CAMEL_CASE_RE.sub(_camel_pinyin, text)
    text = text.casefold().translate(_JOINERS)
    tokens = _join_single_letters([t for t in _SPLIT_RE.split(text) if t])
    tokens = [t for t in tokens if t not in NAME_PARTICLES] or tokens
    tokens = _strip_legal_forms([_legal_token(t) for t in tokens])
    if tokens:
        tokens[-1] = _strip_glued_legal_form(tokens[-1])
    if len(tokens) > 1:
        tokens = [t for t in tokens if t not in LEGAL_TOKENS_ANYWHERE] or tokens
    tokens = [_canonical_token(t) for t in tokens]
    core = [t for t in tokens if t not in GENERIC_CANONICAL]
    if len(core) > 2:
        core = [t for t in core if len(t) > 1 or t.isdigit()]  # middle initials: "John M. Le"
    return NormalizedName.of(tuple(tokens), tuple(core) or tuple(tokens))


def skeleton(token: str) -> str:
    """Consonant skeleton for transliteration variants: Mohammed/Muhammad → 'md'."""
    return _REPEAT_RE.sub(r"\1", token.translate(_SKELETON_DROP))


@lru_cache(maxsize=NAME_CACHE_SIZE)
def normalize_place(raw: str) -> str:
    """City or subdivision in comparable form ('São Paulo' → 'sao paulo')."""
    text = unicodedata.normalize("NFKC", raw)
    if not text.isascii():
        text = anyascii(text)
    return " ".join(t for t in _SPLIT_RE.split(text.casefold().translate(_JOINERS)) if t)


def normalize_postcode(raw: str) -> str:
    """'SW1A 1AA' → 'SW1A1AA', '01-234' → '01234'."""
    return "".join(ch for ch in anyascii(raw).upper() if ch.isalnum())


_INTERNATIONAL_PHONE_RE = re.compile(r"\+[0-9][0-9 ().-]{6,24}")
_PHONE_PUNCTUATION = str.maketrans("", "", " ().-")


@lru_cache(maxsize=NAME_CACHE_SIZE)
def canonical_phone(raw: str, country_code: str = "") -> str | None:
    """E.164 form of a phone number, using the party's country for national formats."""
    text = raw.strip().replace("(0)", "")
    if _INTERNATIONAL_PHONE_RE.fullmatch(text):
        digits = text.translate(_PHONE_PUNCTUATION)
        if 8 <= len(digits) <= 16:
            return digits
    try:
        number = phonenumbers.parse(raw, country_code or None)
    except phonenumbers.NumberParseException:
        return None
    if len(str(number.national_number)) < 6:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def canonical_email(raw: str) -> str | None:
    """Lower-cased address without sub-address tag: 'Sales+Q3@Ex.COM' → 'sales@ex.com'."""
    text = raw.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or " " in text:
        return None
    local = local.split("+", 1)[0]
    host = canonical_domain(domain)
    if not local or host is None:
        return None
    return f"{local}@{host}"


def canonical_domain(raw: str) -> str | None:
    """Registrable host of a web address: 'https://www.Ex.com/shop' → 'ex.com'."""
    text = raw.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    host = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].rstrip(".")
    host = host.removeprefix("www.")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if "." not in host or not re.fullmatch(r"[a-z0-9.-]+", host):
        return None
    return host
