"""One pass over a store: a plan of operations, evaluated chunk by chunk and merged.

A pass is a function of one chunk of paths (:func:`chunk_pass`), so it runs on dask
workers that read the store themselves, or in the calling process; only small partial
results travel (sums and counts are added over chunks, gathered values concatenated).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from sim.results.streamed.select import LEVEL_BITS, level_of, to_keys


def read_block(store: str, var: str, a: int, b: int) -> np.ndarray:
    """Rows [a, b) of a per-path variable as float64 (rows, columns): the non-path dims
    flattened in C order."""
    import zarr

    arr = zarr.open_array(store=store, path=var, mode="r")
    x = np.asarray(arr[a:b])
    return x.reshape(x.shape[0], -1).astype(np.float64, copy=False)


def chunk_pass(store: str, a: int, b: int, plan: list[tuple]) -> list[np.ndarray]:
    """Evaluate every operation of ``plan`` on paths [a, b). Returns one array per
    operation: sums/counts (added over chunks) or gathered values (concatenated)."""
    cache: dict = {}

    def x_of(var):
        if var not in cache:
            cache[var] = read_block(store, var, a, b)
        return cache[var]

    def col_of(var, col):
        key = (var, col, "col")
        if key not in cache:
            c = x_of(var)[:, col]
            cache[key] = c[~np.isnan(c)]
        return cache[key]

    def keys_of(var, col):
        key = (var, col, "keys")
        if key not in cache:
            cache[key] = to_keys(col_of(var, col))
        return cache[key]

    out = []
    for op in plan:
        kind = op[0]
        if kind == "sum":  # per column: sum, number of NaN
            x = x_of(op[1])
            out.append(np.stack([x.sum(axis=0), np.isnan(x).sum(axis=0).astype(np.float64)]))
        elif kind == "sqdev":  # per column: sum of squared deviations about given means
            x = x_of(op[1])
            out.append(((x - op[2]) ** 2).sum(axis=0))
        elif kind == "hist1":  # histogram of the top 16 bits of the keys of one column
            k = keys_of(op[1], op[2])
            out.append(np.bincount((k >> np.uint64(48)).astype(np.int64), minlength=1 << 16).astype(np.int64))
        elif kind in ("hist", "gather"):  # values whose key starts with `prefix` (`bits` long)
            _, var, col, bits, prefix = op
            k = keys_of(var, col)
            sel = (k >> np.uint64(64 - bits)) == np.uint64(prefix)
            if kind == "gather":
                out.append(col_of(var, col)[sel])
            else:
                shift = np.uint64(64 - bits - LEVEL_BITS[level_of(bits)])
                digits = ((k[sel] >> shift) & np.uint64((1 << LEVEL_BITS[level_of(bits)]) - 1)).astype(np.int64)
                out.append(np.bincount(digits, minlength=1 << LEVEL_BITS[level_of(bits)]).astype(np.int64))
        elif kind == "cross":  # per column v: #(liq_v and not liq_0), #(not liq_v and liq_0)
            x = x_of(op[1]) != 0
            base = x[:, :1]
            out.append(np.stack([(x & ~base).sum(axis=0), (~x & base).sum(axis=0)]).astype(np.float64))
        elif kind == "below":  # per listed column: #(x < threshold)
            x = x_of(op[1])[:, op[2]]
            out.append((x < op[3]).sum(axis=0).astype(np.float64))
        elif kind == "tail":  # losses L = -x beyond v: count, sum (L - v), sum (L - v)^2
            _, var, col, v = op
            d = -x_of(var)[:, col] - v
            d = d[d > 0]
            out.append(np.array([d.size, d.sum(), (d * d).sum()], dtype=np.float64))
        elif kind == "dd":  # influence difference phi_a - phi_b of ES, shifted by va - vb
            _, va_var, va_col, va, vb_var, vb_col, vb, level = op
            la = -x_of(va_var)[:, va_col]
            lb = -x_of(vb_var)[:, vb_col]
            dd = np.maximum(la - va, 0.0) / (1.0 - level) - np.maximum(lb - vb, 0.0) / (1.0 - level)
            out.append(np.array([dd.size, dd.sum(), (dd * dd).sum()], dtype=np.float64))
        elif kind == "batch":  # per batch of consecutive paths: count and sums of two columns
            _, va, vb, col, m, nb = op
            out.append(_batch_sums(x_of(va)[:, col], x_of(vb)[:, col], a, m, nb, None))
        elif kind == "batchsq":
            _, va, vb, col, m, nb, means = op
            out.append(_batch_sums(x_of(va)[:, col], x_of(vb)[:, col], a, m, nb, means))
        else:  # pragma: no cover - a programming error
            raise ValueError(f"unknown operation {kind!r}")
    return out


def _batch_sums(h, u, a, m, nb, means):
    """(nb, 3): count, then sums of h and u (or of their squared deviations about
    ``means`` (nb, 2)) for rows of global batch index (a + i) // m < nb."""
    b = (a + np.arange(h.size)) // m
    ok = b < nb
    b, h, u = b[ok], h[ok], u[ok]
    if means is not None:
        h = (h - means[b, 0]) ** 2
        u = (u - means[b, 1]) ** 2
    return np.stack([np.bincount(b, minlength=nb).astype(np.float64), np.bincount(b, h, minlength=nb),
                     np.bincount(b, u, minlength=nb)], axis=1)


@dataclass
class Mapper:
    """Runs a plan over all chunks and merges the partial results: locally, or on a dask
    client (``client``), whose workers read the store themselves."""

    store: str
    chunks: list[tuple[int, int]]
    client: object = None
    passes: int = 0

    def __call__(self, plan: list[tuple]) -> list[np.ndarray]:
        self.passes += 1
        gather = [op[0] == "gather" for op in plan]
        if self.client is None:
            total = None
            for a, b in self.chunks:
                part = chunk_pass(self.store, a, b, plan)
                total = part if total is None else merge(total, part, gather)
            return total
        c = self.client
        # the plan travels inside the function (not as a keyword of map, which dask
        # would turn into a shared task named "plan" that collides across passes)
        fn = functools.partial(chunk_pass, plan=plan)
        futs = c.map(fn, [self.store] * len(self.chunks), [a for a, _ in self.chunks],
                     [b for _, b in self.chunks], pure=False)
        while len(futs) > 1:  # tree reduction on the workers
            nxt = [c.submit(merge, futs[i], futs[i + 1], gather, pure=False) for i in range(0, len(futs) - 1, 2)]
            if len(futs) % 2:
                nxt.append(futs[-1])
            futs = nxt
        return futs[0].result()


def merge(a: list, b: list, gather: list[bool]) -> list:
    return [np.concatenate([x, y]) if g else x + y for x, y, g in zip(a, b, gather)]
