"""Exact order statistics by radix selection over the bits of the values.

Every value gets an order-preserving 64-bit integer key (:func:`to_keys`). The first
pass histograms the top 16 bits of the keys of every chunk; summed over chunks, the
histogram tells in which bucket the wanted rank lies and how many values come before it.
The next passes refine that bucket ``LEVEL_BITS`` at a time or, once it holds at most
``GATHER`` values, collect those values and sort them. So the order statistics are
bitwise those of a sort of all values, though no process ever holds them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SIGN = np.uint64(1 << 63)
GATHER = 1 << 17  # a bucket with at most this many values is collected and sorted
LEVEL_BITS = (16, 12, 12, 12, 12)  # 64 bits in all


def to_keys(x: np.ndarray) -> np.ndarray:
    """float64 -> uint64 with the same order (NaN excluded by the caller)."""
    u = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    return np.where(u >> np.uint64(63), ~u, u | SIGN)


def from_key(k: int) -> float:
    k = np.uint64(k)
    u = (k ^ SIGN) if (k & SIGN) else ~k
    return float(np.array([u], dtype=np.uint64).view(np.float64)[0])


def level_of(bits: int) -> int:
    """The refinement level that starts after the first ``bits`` bits of the key."""
    total = 0
    for i, w in enumerate(LEVEL_BITS):
        if total == bits:
            return i
        total += w
    raise ValueError(bits)


@dataclass
class Target:
    var: str
    col: int
    rank: int  # 0-based rank among the column's non-NaN values, ascending
    bits: int = 0
    prefix: int = 0
    base: int = 0  # number of values with a smaller key prefix
    count: int = -1  # values with this prefix
    value: float | None = None


@dataclass
class Selector:
    """Exact order statistics of many columns at once, a few passes over the data."""

    targets: dict = field(default_factory=dict)  # (var, col, rank) -> Target

    def want(self, var: str, col: int, rank: int) -> None:
        self.targets.setdefault((var, col, int(rank)), Target(var, col, int(rank)))

    def value(self, var: str, col: int, rank: int) -> float:
        return self.targets[(var, col, int(rank))].value

    def first_ops(self) -> list[tuple]:
        return sorted({("hist1", t.var, t.col) for t in self.targets.values()})

    def take_first(self, ops: list[tuple], res: list[np.ndarray]) -> None:
        hists = {op[1:]: r for op, r in zip(ops, res)}
        for t in self.targets.values():
            self._descend(t, hists[(t.var, t.col)], 16)

    def _descend(self, t: Target, hist: np.ndarray, width: int) -> None:
        cum = np.cumsum(hist)
        r = t.rank - t.base
        d = int(np.searchsorted(cum, r, side="right"))  # first bucket with cum > r
        t.base += int(cum[d - 1]) if d > 0 else 0
        t.count = int(hist[d])
        t.prefix = (t.prefix << width) | d
        t.bits += width
        if t.bits == 64:
            t.value = from_key(t.prefix)

    def pending_ops(self) -> list[tuple]:
        ops = set()
        for t in self.targets.values():
            if t.value is None:
                kind = "gather" if t.count <= GATHER else "hist"
                ops.add((kind, t.var, t.col, t.bits, t.prefix))
        return sorted(ops)

    def take(self, ops: list[tuple], res: list[np.ndarray]) -> None:
        got = {op: r for op, r in zip(ops, res)}
        for t in self.targets.values():
            if t.value is not None:
                continue
            for kind in ("gather", "hist"):
                r = got.get((kind, t.var, t.col, t.bits, t.prefix))
                if r is None:
                    continue
                if kind == "gather":
                    t.value = float(np.sort(r)[t.rank - t.base])
                else:
                    self._descend(t, r, LEVEL_BITS[level_of(t.bits)])
                break


def np_quantile_ranks(n: int, q: float) -> tuple[int, int, float]:
    """The order statistics (0-based ranks) and weight numpy's default (linear) quantile
    interpolates between."""
    v = (n - 1) * q
    if v >= n - 1:
        return n - 1, n - 1, 0.0
    prev = math.floor(v)
    return prev, prev + 1, v - prev


def np_lerp(a: float, b: float, t: float) -> float:
    """numpy's _lerp, bit for bit."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
