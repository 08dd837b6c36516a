"""A fixed vocabulary looked up with one typo forgiven, for the words normalisation drops or
folds (generic business words, legal-form words): "Tgechnology", "Gruop", "Limitzed".

Which typos are forgiven depends on the word's length, because a one-letter change turns
short words into real names: "Sharma" is one substitution from "pharma" and "Margo" one from
"cargo", "Parma" and "Hande" one letter short of "pharma" and "handel". So a letter typed
in or two letters swapped count for words of TYPO_MIN letters or more, an inner letter left
out for words of MISSING_MIN or more, a substituted letter only for words of SUBSTITUTION_MIN
or more, and shorter words must match exactly. Words of FOLDED_MIN letters or more also
match when their spelling folds to the same sounds and is as long within a letter ("Scyence",
"Grup", "Iouxian"; not "Yao", which folds like "yiyao"). Lookups use
symmetric deletions (a word and each of its one-letter deletions), so a token costs a few
dictionary probes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

FOLDED_MIN = 4
TYPO_MIN = 5
MISSING_MIN = 6
SUBSTITUTION_MIN = 8


def deletions(word: str) -> list[str]:
    """The word with each one of its letters left out."""
    return [word[:i] + word[i + 1 :] for i in range(len(word))]


def _transpositions(word: str) -> list[str]:
    return [word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)]


class NearWords:
    """Maps a token to its vocabulary word's canonical form when the token is that word or a
    forgiven typo of it."""

    def __init__(
        self, vocabulary: Mapping[str, str], fold: Callable[[str], str] = str.lower
    ) -> None:
        self._exact = dict(vocabulary)
        self._fold = fold
        self._folded: dict[str, tuple[str, int]] = {}
        for word, canonical in sorted(vocabulary.items()):
            if len(word) >= FOLDED_MIN:
                self._folded.setdefault(fold(word), (canonical, len(word)))
        self._typo_words = {w: c for w, c in vocabulary.items() if len(w) >= TYPO_MIN}
        self._missing_letter: dict[str, str] = {}
        self._substituted: dict[str, str] = {}  # long words' deletions, keyed with the length
        for word, canonical in sorted(self._typo_words.items()):
            if len(word) >= MISSING_MIN:  # inner letters only: "Hande" is not "handel"
                for i in range(2, len(word) - 1):
                    self._missing_letter.setdefault(word[:i] + word[i + 1 :], canonical)
            for deleted in deletions(word) if len(word) >= SUBSTITUTION_MIN else ():
                self._substituted.setdefault(f"{len(word)}:{deleted}", canonical)
        self._shortest = TYPO_MIN - 1
        self._longest = max(map(len, self._typo_words), default=0) + 1

    def get(self, token: str) -> str | None:
        exact = self._exact.get(token)
        if exact is not None:
            return exact
        if len(token) >= FOLDED_MIN:
            folded = self._folded.get(self._fold(token))
            # "Yao" folds like "yiyao" but is a surname, not a typo of it
            if folded is not None and abs(len(token) - folded[1]) <= 1:
                return folded[0]
        if not self._shortest <= len(token) <= self._longest:
            return None
        found = self._missing_letter.get(token)
        if found is not None:
            return found
        long_enough = len(token) >= SUBSTITUTION_MIN
        for variant in deletions(token):
            found = self._typo_words.get(variant)  # a letter typed in
            if found is None and long_enough:
                found = self._substituted.get(f"{len(token)}:{variant}")
            if found is not None:
                return found
        for variant in _transpositions(token):
            found = self._typo_words.get(variant)
            if found is not None:
                return found
        return None
