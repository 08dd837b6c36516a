"""Compact postings: 64-bit keys to arrays of int32 party ids (CSR layout, NumPy).

One table holds every key family; a family's salt is XOR-ed into its keys so that a token, a
phone number and an H3 cell never share a key by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class Postings:
    keys: Int64Array  # sorted, unique
    starts: npt.NDArray[Any]  # len(keys) + 1 offsets into values (int32 while they fit)
    values: Int32Array  # party ids, ascending within each key

    @classmethod
    def build(cls, keys: Int64Array, values: Int32Array) -> Postings:
        """From parallel arrays of (key, party id) pairs, duplicates allowed."""
        order = np.lexsort((values, keys))
        keys = keys[order]
        values = values[order]
        if len(keys):
            keep = np.ones(len(keys), dtype=bool)
            keep[1:] = (keys[1:] != keys[:-1]) | (values[1:] != values[:-1])
            keys = keys[keep]
            values = values[keep]
        unique, first = np.unique(keys, return_index=True)
        starts = np.empty(len(unique) + 1, dtype=np.int32 if len(keys) < 2**31 else np.int64)
        starts[:-1] = first
        starts[-1] = len(keys)
        return cls(unique.astype(np.int64), starts, values.astype(np.int32))

    @classmethod
    def empty(cls) -> Postings:
        return cls(np.empty(0, np.int64), np.zeros(1, np.int64), np.empty(0, np.int32))

    def find(self, query: Int64Array) -> tuple[Int64Array, Int64Array]:  # starts, ends
        """For each query key, the [start, end) of its ids in `values` (empty when absent)."""
        pos = np.searchsorted(self.keys, query)
        pos = np.minimum(pos, max(len(self.keys) - 1, 0))
        if not len(self.keys):
            zeros = np.zeros(len(query), np.int64)
            return zeros, zeros
        hit = self.keys[pos] == query
        starts = np.where(hit, self.starts[pos], 0)
        ends = np.where(hit, self.starts[pos + 1], 0)
        return starts, ends

    def ids(self, key: int) -> Int32Array:
        start, end = self.find(np.array([key], np.int64))
        return self.values[int(start[0]) : int(end[0])]

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.starts.nbytes + self.values.nbytes)
