"""Candidate pairs for registration: proposed near-linearly, each pair's result cached (numpy only, no I/O).

Trying every pair of a place's cuts costs the square of its cuts. As structure-from-motion tools choose
image pairs (COLMAP's vocabulary-tree and sequential matching), a cheap global signature of each layout
proposes its most likely partners, and the shot-list order adds its neighbours; the geometric checks in
sheets.py then accept or refuse each proposed pair. A cut that no accepted pair joins is tried against more
candidates before it is called alone, and the sheets found are tried against each other before they are
left apart.

The signature is a bag of visual words: each ORB descriptor (256 bits) hashed into a word by a few fixed
sets of its bits (locality-sensitive hashing: close descriptors share a word often), weighted by how rare
the word is in the place (tf-idf), compared by cosine. Fixed bits, not a vocabulary trained on the place,
so one cut's signature never depends on the others and survives in the cache.

Example:
    sig = [words(descriptors) for descriptors in each_cuts_orb]
    tried = search(len(sig), sig, lambda i, j: match(i, j).accepted)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

SCHEMA = "shotrender.pairs/1"
TABLES = 4  # hash tables: a descriptor gives one word in each
BITS = 12  # bits of the descriptor per word (4,096 words a table)
PARTNERS = 5  # the most similar cuts proposed for each cut
NEIGHBOURS = 1  # shot-list neighbours proposed on each side (a pan is often cut in order)
EXHAUSTIVE = 12  # a place of up to this many cuts has every pair tried: cheap, and the surest
MORE = 3  # a cut no accepted pair joins is tried against MORE × PARTNERS further candidates
JOIN_ROUNDS = 2  # rounds of trying pairs between the sheets that stay apart

_BITS = np.random.default_rng(20261207).permuted(np.tile(np.arange(256), (TABLES, 1)), axis=1)[:, :BITS]


def words(descriptors: np.ndarray | None) -> np.ndarray:
    """A layout's visual words: one per ORB descriptor (N×32 uint8) and table, int32 in [0, TABLES·2^BITS)."""
    if descriptors is None or not len(descriptors):
        return np.zeros(0, np.int32)
    bits = np.unpackbits(np.asarray(descriptors, np.uint8), axis=1)
    weights = 1 << np.arange(BITS)
    return np.concatenate([(bits[:, _BITS[t]] @ weights) + (t << BITS) for t in range(TABLES)]).astype(np.int32)


def similarity(signatures: Sequence[np.ndarray]) -> np.ndarray:
    """Cosine of the cuts' tf-idf word histograms: N×N, the diagonal −1 (a cut is not its own partner)."""
    n, size = len(signatures), TABLES << BITS
    counts = np.zeros((n, size), np.float32)
    for i, w in enumerate(signatures):
        counts[i] = np.bincount(w, minlength=size)
    idf = np.log((n + 1) / ((counts > 0).sum(0) + 1)).astype(np.float32)
    vectors = counts * idf
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    sim = vectors @ vectors.T
    np.fill_diagonal(sim, -1)
    return sim


def propose(sim: np.ndarray, partners: int = PARTNERS, neighbours: int = NEIGHBOURS) -> list[tuple[int, int]]:
    """The first pairs to try, (i, j) with i < j: each cut's `partners` most similar and its shot-list
    neighbours; every pair when the place is small."""
    n = len(sim)
    if n <= EXHAUSTIVE:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = {tuple(sorted((i, int(j)))) for i in range(n) for j in _ranked(sim, i)[:partners]}
    chosen |= {(i, i + d) for i in range(n) for d in range(1, neighbours + 1) if i + d < n}
    return sorted(chosen)


def _ranked(sim: np.ndarray, i: int) -> np.ndarray:
    """The other cuts, most similar to i first (ties: shot-list order)."""
    order = np.argsort(-sim[i], kind="stable")
    return order[order != i]


@dataclass
class _Forest:
    parent: list[int]

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        ri, rj = self.root(i), self.root(j)
        self.parent[max(ri, rj)] = min(ri, rj)


def search(n: int, signatures: Sequence[np.ndarray], accept: Callable[[int, int], bool],
           partners: int = PARTNERS, first: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Try pairs until the place's sheets are found; `accept(i, j)` (i < j) tries one and says whether the
    geometric checks accepted it. Returns the pairs tried, in the order tried.

    0. `first`: pairs the shot list hints at (i < j). 1. Proposed pairs (`propose`). 2. Each cut no accepted
    pair joins: its next MORE × partners candidates.
    3. Each cut outside the largest sheet: its `partners` most similar cuts of other sheets, JOIN_ROUNDS times."""
    sim = similarity(signatures)
    tried: dict[tuple[int, int], bool] = {}
    forest = _Forest(list(range(n)))
    joined = [False] * n

    def attempt(i: int, j: int) -> None:
        pair = (min(i, j), max(i, j))
        if pair in tried:
            return
        tried[pair] = accept(*pair)
        if tried[pair]:
            joined[i] = joined[j] = True
            forest.join(i, j)

    for i, j in (*first, *propose(sim, partners)):
        attempt(i, j)
    if n <= EXHAUSTIVE:
        return list(tried)
    for i in range(n):
        if not joined[i]:
            fresh = [int(j) for j in _ranked(sim, i) if (min(i, j), max(i, j)) not in tried]
            for j in fresh[:MORE * partners]:
                attempt(i, j)
                if joined[i]:
                    break
    for _ in range(JOIN_ROUNDS):
        groups: dict[int, list[int]] = {}
        for i in range(n):
            groups.setdefault(forest.root(i), []).append(i)
        if len(groups) == 1:
            break
        largest = max(groups.values(), key=len)
        before = len(groups)
        for members in groups.values():
            if members is largest:
                continue
            for i in members:
                outside = [int(j) for j in _ranked(sim, i) if forest.root(int(j)) != forest.root(i)
                           and (min(i, j), max(i, j)) not in tried]
                for j in outside[:partners]:
                    attempt(i, j)
                    if forest.root(i) == forest.root(largest[0]):
                        break
        if len({forest.root(i) for i in range(n)}) == before:
            break
    return list(tried)


def digest(image: np.ndarray, views: Sequence[np.ndarray] = ()) -> str:
    """sha256 naming what registration reads of a cut: its layout's pixels and its camera's framings."""
    h = hashlib.sha256(f"{image.shape}{image.dtype}".encode())
    h.update(np.ascontiguousarray(image).data)
    for v in views:
        h.update(np.asarray(v, np.float64).round(9).tobytes())
    return h.hexdigest()


def pair_key(a: str, b: str, measure: dict) -> str:
    """sha256 naming one pair's result: the two cuts' digests in shot-list order and how it was measured."""
    record = {"schema": SCHEMA, "a": a, "b": b, "measure": measure}
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Cache:
    """Pairs' results by `pair_key` and signatures by `digest`: what a registration read and found, so an
    edited layout re-registers only its own pairs. `used` keeps what this registration asked for: the
    record written back holds that alone, so it grows with the cuts, not with every layout ever drawn."""

    pairs: dict[str, dict] = field(default_factory=dict)
    signatures: dict[str, np.ndarray] = field(default_factory=dict)
    used_pairs: set[str] = field(default_factory=set)
    used_signatures: set[str] = field(default_factory=set)
    misses: int = 0  # pairs matched, not read

    def pair(self, key: str, make: Callable[[], dict]) -> dict:
        self.used_pairs.add(key)
        if key not in self.pairs:
            self.pairs[key] = make()
            self.misses += 1
        return self.pairs[key]

    def signature(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        self.used_signatures.add(key)
        if key not in self.signatures:
            self.signatures[key] = make()
        return self.signatures[key]

    def to_dict(self) -> dict:
        return {"schema": SCHEMA,
                "pairs": {k: self.pairs[k] for k in sorted(self.used_pairs)},
                "signatures": {k: self.signatures[k].astype("<u2").tobytes().hex()
                               for k in sorted(self.used_signatures)}}

    @classmethod
    def from_dict(cls, record) -> Cache:
        """A cache read back; an empty one for anything that is not a record of this schema (a miss)."""
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            return cls()
        pairs, signatures = record.get("pairs"), record.get("signatures")
        if not isinstance(pairs, dict) or not isinstance(signatures, dict):
            return cls()
        found = cls({k: v for k, v in pairs.items() if isinstance(v, dict)})
        for k, v in signatures.items():
            try:
                words = np.frombuffer(bytes.fromhex(v), "<u2").astype(np.int32)
            except (TypeError, ValueError):
                continue
            if not len(words) or words.max() < TABLES << BITS:
                found.signatures[k] = words
        return found
