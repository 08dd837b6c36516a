"""Name keys for candidate retrieval and name similarity for re-scoring.

Every normalised name is indexed under 64-bit keys of several families:

- FULL: the name's core tokens in sorted order (exact matches in any token order and with any
  generic business words, however common the tokens);
- TOKEN: each core token (generic business words are left out);
- SKELETON: a token's consonant skeleton (transliteration variants: Natalya/Natallia);
- PHONETIC: a token's phonetic folding where it differs from the token (Yuan/Iuan, Djordje/
  Jordje), looked up by queries as PHONETIC and as TOKEN;
- PREFIX / SUFFIX: a token's two halves (one typo leaves one half intact).

A query also looks up adjacent tokens joined ("hong da" finds "hongda"), each token with one
letter deleted (a stray letter typed in), and the halves for the lengths a one-letter
insertion or deletion would give. Keys are Python's keyed SipHash of
the text (salted per process) XOR a family salt: cheap (~50 ns), compact, and collisions only
add candidates that re-scoring then judges on the real strings.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from index.near_words import deletions
from index.normalize import NormalizedName, phonetic, skeleton

FULL = 0x5A17_0F3E_9B2C_4D61
TOKEN = 0x2C9E_6B1D_07A4_F358
SKELETON = 0x71D3_A85C_E20B_96F4
PREFIX = 0x0B6F_D249_5E1A_C783
SUFFIX = 0x4E82_17C6_B95D_3A0F
PHONETIC = 0x6C3B_F1A0_D58E_2947
PHONE = 0x3F51_C0A7_6D28_E9B4
EMAIL = 0x68A4_2E9F_B13C_705D
DOMAIN = 0x1D7B_94E0_C6F2_5A38
CELL = 0x52E6_0B3D_8A71_F4C9

NAME_FAMILY_WEIGHTS = {
    FULL: 3.0, TOKEN: 1.0, PHONETIC: 0.8, SKELETON: 0.6, PREFIX: 0.4, SUFFIX: 0.4,
}  # fmt: skip
DELETION_WEIGHT = 0.8
MAX_DELETION_TOKEN = 7  # longer tokens are covered by their halves
MIN_TOKEN = 2
MIN_SKELETON_TOKEN = 4
MIN_HALVED_TOKEN = 6


def key(family: int, text: str) -> int:
    return hash(text) ^ family


def keying_probe() -> int:
    """A value of this process's keyed hash: two processes derive the same keys (and the same
    snapshot) exactly when they agree on it, barring a 2^-64 accident."""
    return key(FULL, "\x00preflight keying probe")


def _halves(token: str) -> tuple[str, str]:
    cut = len(token) // 2
    return token[:cut], token[cut:]


def whole_name(name: NormalizedName) -> str:
    """The name's FULL-key text: "IVANOVA, Natalya OOO" and "Natalya Ivanova" agree."""
    return " ".join(sorted(name.core_tokens))


def index_token_keys(token: str) -> tuple[int, ...]:
    """The keys one core token of an incident party's name is filed under."""
    keys: list[int] = []
    if len(token) >= MIN_TOKEN:
        keys.append(key(TOKEN, token))
    if len(token) >= MIN_SKELETON_TOKEN:
        skel = skeleton(token)
        if len(skel) >= 2 and skel != token:
            keys.append(key(SKELETON, skel))
    if len(token) >= MIN_TOKEN:
        folded = phonetic(token)
        if folded != token:
            keys.append(key(PHONETIC, folded))
    if len(token) >= MIN_HALVED_TOKEN:
        head, tail = _halves(token)
        keys.append(key(PREFIX, head))
        keys.append(key(SUFFIX, tail))
    return tuple(keys)


def index_name_keys(
    name: NormalizedName, token_keys: Callable[[str], tuple[int, ...]] = index_token_keys
) -> set[int]:
    """The keys one incident party's name is filed under (`token_keys` may be a cached
    index_token_keys: a build meets the same tokens again and again)."""
    if not name.tokens:
        return set()
    keys = {key(FULL, whole_name(name))}
    for token in name.core_tokens:
        keys.update(token_keys(token))
    return keys


def query_name_keys(name: NormalizedName) -> tuple[dict[int, float], list[tuple[int, ...]]]:
    """The keys a query name looks up, each with the weight a hit on it gives a candidate;
    and per core token, the keys that stand for the whole token: the token itself, and its
    phonetic folding as a PHONETIC and as a TOKEN key."""
    if not name.tokens:
        return {}, []
    keys = {key(FULL, whole_name(name)): NAME_FAMILY_WEIGHTS[FULL]}
    whole_tokens: list[tuple[int, ...]] = []
    core = name.core_tokens
    for a, b in pairwise(core):
        keys[key(TOKEN, a + b)] = NAME_FAMILY_WEIGHTS[TOKEN]
    for token in core:
        if len(token) >= MIN_TOKEN:
            token_key = key(TOKEN, token)
            keys[token_key] = NAME_FAMILY_WEIGHTS[TOKEN]
        if len(token) >= MIN_SKELETON_TOKEN:
            skel = skeleton(token)
            if len(skel) >= 2 and skel != token:
                keys.setdefault(key(SKELETON, skel), NAME_FAMILY_WEIGHTS[SKELETON])
        if len(token) >= MIN_TOKEN:
            folded = phonetic(token)
            phonetic_keys = (key(PHONETIC, folded), key(TOKEN, folded))
            for k in phonetic_keys:
                keys.setdefault(k, NAME_FAMILY_WEIGHTS[PHONETIC])
            whole_tokens.append((token_key, *phonetic_keys))
        if MIN_SKELETON_TOKEN <= len(token) <= MAX_DELETION_TOKEN:
            for deleted in deletions(token):
                keys.setdefault(key(TOKEN, deleted), DELETION_WEIGHT)  # a letter typed in
        size = len(token)
        for original in (size - 1, size, size + 1):
            if original < MIN_HALVED_TOKEN:
                continue
            head_len = original // 2
            tail_len = original - head_len
            if head_len <= size:
                keys.setdefault(key(PREFIX, token[:head_len]), NAME_FAMILY_WEIGHTS[PREFIX])
            if tail_len <= size:
                keys.setdefault(key(SUFFIX, token[-tail_len:]), NAME_FAMILY_WEIGHTS[SUFFIX])
    return keys, whole_tokens


# A phonetic-only agreement is strong evidence but never an exact match.
PHONETIC_DISCOUNT = 0.97
# Folding moves a pair's similarity by a few hundredths at most; below this it cannot lift a
# pair anywhere near the name points.
_BORDERLINE = (0.75, PHONETIC_DISCOUNT)


def _spelling_similarity(a: str, b: str) -> float:
    compact = fuzz.ratio(a.replace(" ", ""), b.replace(" ", ""))
    return max(compact, fuzz.token_sort_ratio(a, b)) / 100.0


def similarity(a: str, b: str) -> float:
    """0–1 similarity of two normalised name forms (space-separated tokens).

    The better of: the names with spaces removed (so "shang hai hong da" meets "shanghai
    hongda") and the names with tokens sorted (so "IVANOVA Natalya" meets "Natalya Ivanova");
    a borderline pair gets a second opinion on its phonetic folding, discounted.
    """
    spelled = _spelling_similarity(a, b)
    if _BORDERLINE[0] <= spelled < _BORDERLINE[1]:
        folded = PHONETIC_DISCOUNT * _spelling_similarity(phonetic(a), phonetic(b))
        return max(spelled, folded)
    return spelled


def pairwise_similarity(queries: list[str], choices: list[str]) -> npt.NDArray[np.float64]:
    """similarity() of each (queries[i], choices[i]): spelling in C, then the few borderline
    pairs again on their phonetic folding."""
    compact = process.cpdist(
        [q.replace(" ", "") for q in queries],
        [c.replace(" ", "") for c in choices],
        scorer=fuzz.ratio,
        dtype=np.float64,
    )
    sorted_tokens = process.cpdist(queries, choices, scorer=fuzz.token_sort_ratio, dtype=np.float64)
    result = np.maximum(compact, sorted_tokens) / 100.0
    borderline = np.flatnonzero((result >= _BORDERLINE[0]) & (result < _BORDERLINE[1]))
    for i in borderline.tolist():
        result[i] = similarity(queries[i], choices[i])
    return np.asarray(result, np.float64)
