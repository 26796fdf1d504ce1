"""The summary of a result store, computed chunk by chunk from the stored per-path data.

No process ever holds all paths: every statistic of ``sim.results.summarize`` is either a
mergeable sum over chunks (counts, sums, sums of squared deviations about a mean found in
an earlier pass) or an order statistic found exactly by radix selection:

1. each chunk histograms the top 16 bits of an order-preserving integer key of every
   value (sign, exponent, 4 mantissa bits); summed over chunks, the histogram tells in
   which bucket the wanted rank lies and how many values come before it;
2. the next passes refine that bucket 12 bits at a time, or, once it holds at most
   ``GATHER`` values, collect those values and sort them.

So order statistics (VaR and its band, quantiles) are bitwise those of the single-process
summary; sums (means, standard deviations, ES) agree with it to rounding (about 1e-15
relative: the chunks add up in another order). A pass is a function of one chunk of paths
(``_chunk_pass``), so it runs on dask workers that read the store themselves, or in the
calling process; only small partial results travel.

Importance-weighted results (a per-path ``weight``) are summarised by
``sim.results.summarize`` on the loaded per-path variables instead.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import xarray as xr

from sim import results
from sim.results import stats

SIGN = np.uint64(1 << 63)
GATHER = 1 << 17  # a bucket with at most this many values is collected and sorted
LEVEL_BITS = (16, 12, 12, 12, 12)  # 64 bits in all
HE_BATCHES = 20  # batches of consecutive paths for the SE of hedge effectiveness (results._he_batch_se)

# summary variables this module computes (unweighted results)
STREAMED = {
    "liquidation_probability", "liquidation_probability_se", "liquidation_probability_low",
    "liquidation_probability_high", "var", "var_se", "es", "es_se", "pnl_mean", "pnl_mean_se", "pnl_std",
    "pnl_quantile", "pnl_quantile_low", "pnl_quantile_high", "hedge_effectiveness", "hedge_effectiveness_se",
    "funding_mean", "funding_mean_se", "funding_usd_mean", "funding_usd_mean_se", "fees_mean", "fees_mean_se",
    "max_drawdown_mean", "max_drawdown_mean_se", "liquidation_time_quantile", "funding_quantile",
    "max_drawdown_quantile", "es_hedged_minus_unhedged", "es_hedged_minus_unhedged_se",
    "liquidation_probability_vs_base", "liquidation_probability_vs_base_se", "es_hedged_vs_base",
    "es_hedged_vs_base_se", "shortfall_probability", "shortfall_probability_se", "shortfall_probability_low",
    "shortfall_probability_high",
}
MEAN_VARS = {"funding_mean": "funding", "funding_usd_mean": "funding_usd", "fees_mean": "fees",
             "max_drawdown_mean": "max_drawdown"}
NANQ_VARS = {"liquidation_time_quantile": "liquidation_time", "funding_quantile": "funding",
             "max_drawdown_quantile": "max_drawdown"}


# --------------------------------------------------------------------------- keys


def to_keys(x: np.ndarray) -> np.ndarray:
    """float64 -> uint64 with the same order (NaN excluded by the caller)."""
    u = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    return np.where(u >> np.uint64(63), ~u, u | SIGN)


def from_key(k: int) -> float:
    k = np.uint64(k)
    u = (k ^ SIGN) if (k & SIGN) else ~k
    return float(np.array([u], dtype=np.uint64).view(np.float64)[0])


# --------------------------------------------------------------------------- one chunk


def read_block(store: str, var: str, a: int, b: int) -> np.ndarray:
    """Rows [a, b) of a per-path variable as float64 (rows, columns): the non-path dims
    flattened in C order."""
    import zarr

    arr = zarr.open_array(store=store, path=var, mode="r")
    x = np.asarray(arr[a:b])
    return x.reshape(x.shape[0], -1).astype(np.float64, copy=False)


def _chunk_pass(store: str, a: int, b: int, plan: list[tuple]) -> list[np.ndarray]:
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
                shift = np.uint64(64 - bits - LEVEL_BITS[_level_of(bits)])
                digits = ((k[sel] >> shift) & np.uint64((1 << LEVEL_BITS[_level_of(bits)]) - 1)).astype(np.int64)
                out.append(np.bincount(digits, minlength=1 << LEVEL_BITS[_level_of(bits)]).astype(np.int64))
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


def _level_of(bits: int) -> int:
    total = 0
    for i, w in enumerate(LEVEL_BITS):
        if total == bits:
            return i
        total += w
    raise ValueError(bits)


# --------------------------------------------------------------------------- running passes


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
                part = _chunk_pass(self.store, a, b, plan)
                total = part if total is None else merge(total, part, gather)
            return total
        c = self.client
        # the plan travels inside the function (not as a keyword of map, which dask
        # would turn into a shared task named "plan" that collides across passes)
        fn = functools.partial(_chunk_pass, plan=plan)
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


# --------------------------------------------------------------------------- selection


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
                    self._descend(t, r, LEVEL_BITS[_level_of(t.bits)])
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


# --------------------------------------------------------------------------- the summary


def _layout(ds: xr.Dataset, var: str) -> tuple[list[str], tuple[int, ...]]:
    dims = [d for d in ds[var].dims if d != "path"]
    return dims, tuple(ds.sizes[d] for d in dims)


def _template(lazy: xr.Dataset) -> xr.Dataset:
    """results.summarize on the first paths: the names, dims, coords and attrs of every
    summary variable (values are replaced)."""
    n0 = min(lazy.sizes["path"], 40)
    per_path = [v for v in lazy.data_vars if "path" in lazy[v].dims]
    small = lazy[per_path].isel(path=slice(0, n0)).load()
    small.attrs = dict(lazy.attrs)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return results.summarize(small)


def summarize_store(store: str, *, client=None, progress: Callable[[str], None] | None = None
                    ) -> tuple[xr.Dataset, dict]:
    """The summary variables of a complete set of per-path data in ``store`` (a .zarr
    directory), as a Dataset without the ``path`` dim, and facts about how it was
    computed (method, passes, variables left out)."""
    lazy = xr.open_zarr(store, consolidated=False, chunks=None)
    if "weight" in lazy:
        return _summarize_in_memory(lazy)
    n = lazy.sizes["path"]
    tmpl = _template(lazy)
    chunk = _path_chunk(store)
    mapper = Mapper(store, [(a, min(n, a + chunk)) for a in range(0, n, chunk)], client)
    wanted = [v for v in results.SUMMARY_VARS if v in tmpl]
    missing = [v for v in wanted if v not in STREAMED]
    out = _stream(lazy, tmpl, n, mapper, progress)
    info = {"method": "streamed over chunks of the store (exact order statistics, merged sums)",
            "passes": mapper.passes, "chunks": len(mapper.chunks), "not_computed": missing}
    if missing:
        warnings.warn(f"distributed summary: {', '.join(missing)} not computed (not streamable yet)")
    keep = [v for v in wanted if v in out]
    summ = xr.Dataset({v: out[v] for v in keep})
    summ.attrs = {k: v for k, v in tmpl.attrs.items() if k not in lazy.attrs}  # e.g. value_threshold_usd
    for c in ("level", "quantile", "portfolio"):
        if c in tmpl.coords:
            summ = summ.assign_coords({c: tmpl[c]})
    return summ, info


def _path_chunk(store: str) -> int:
    import zarr

    arr = zarr.open_array(store=store, path="liquidated", mode="r")
    return int(arr.chunks[0])


def _summarize_in_memory(lazy: xr.Dataset) -> tuple[xr.Dataset, dict]:
    per_path = [v for v in lazy.data_vars if "path" in lazy[v].dims]
    ds = lazy[per_path].load()
    ds.attrs = dict(lazy.attrs)
    full = results.summarize(ds)
    keep = [v for v in results.SUMMARY_VARS if v in full]
    summ = full[keep].drop_vars("path", errors="ignore")
    summ.attrs = {k: v for k, v in full.attrs.items() if k not in lazy.attrs}
    return summ, {"method": "sim.results.summarize on the loaded per-path variables (importance weights)",
                  "passes": 1, "not_computed": []}


def _stream(lazy: xr.Dataset, tmpl: xr.Dataset, n: int, mapper: Mapper, progress) -> dict:
    say = progress or (lambda s: None)
    LEVELS, QUANTILES = results.LEVELS, results.QUANTILES
    pnl_dims, pnl_shape = _layout(lazy, "hedged_pnl")
    M = int(np.prod(pnl_shape, dtype=np.int64))
    liq_dims, liq_shape = _layout(lazy, "liquidated")
    has_time = "time" in pnl_dims
    T = lazy.sizes["time"] if has_time else 1
    ports = ["hedged_pnl", "unhedged_pnl"]
    sel = Selector()

    # ranks of VaR (and its band) and of the quantiles (and their intervals), per pnl column
    ks = [stats.tail_count(n, a) for a in LEVELS]
    kmax = min(n, max(ks) + int(4 * math.sqrt(max(ks)) + 4))
    var_ranks = []
    for a, k in zip(LEVELS, ks):
        k = min(k, n)
        w = stats.Z95 * math.sqrt(n * a * (1 - a))
        r_lo = max(1, int(math.floor(k - w)))
        r_hi = min(kmax, int(math.ceil(k + w)))
        var_ranks.append((k, r_lo, r_hi))
    q_ranks = [np_quantile_ranks(n, q) for q in QUANTILES]
    qi_ranks = []
    for q in QUANTILES:  # stats.quantile_interval
        w = stats.Z95 * math.sqrt(n * q * (1 - q))
        qi_ranks.append((int(min(max(math.floor(n * q - w), 0), n - 1)), int(min(max(math.ceil(n * q + w), 0), n - 1))))
    for var in ports:
        for j in range(M):
            for k, r_lo, r_hi in var_ranks:  # k-th largest loss = k-th smallest pnl
                for r in (k, r_lo, r_hi):
                    sel.want(var, j, r - 1)
            for lo, hi, _ in q_ranks:
                sel.want(var, j, lo)
                sel.want(var, j, hi)
            for lo, hi in qi_ranks:
                sel.want(var, j, lo)
                sel.want(var, j, hi)

    moment_vars = ["hedged_pnl", "unhedged_pnl", "hedged_value", "unhedged_value", *MEAN_VARS.values()]
    nanq = {name: src for name, src in NANQ_VARS.items() if name in tmpl}
    threshold = json.loads(lazy.attrs.get("config", "{}")).get("simulation", {}).get("value_threshold")
    t_cols = [j for j in range(M) if not has_time or j % T == T - 1]  # columns at the horizon

    # pass 1: sums, NaN counts, top-level histograms
    say("summary: sums and histograms")
    p1 = [("sum", v) for v in dict.fromkeys(moment_vars + ["liquidated"] + list(nanq.values()))]
    if liq_dims:
        p1.append(("cross", "liquidated"))
    if threshold is not None:
        p1.append(("below", "hedged_value", t_cols, float(threshold)))
    nb = HE_BATCHES
    m_batch = n // nb
    he_ok = m_batch >= 2 and "hedge_effectiveness_se" in tmpl
    if he_ok:
        p1 += [("batch", "hedged_value", "unhedged_value", j, m_batch, nb) for j in range(M)]
    hist_ops = sel.first_ops()
    nanq_cols = {src: int(np.prod(_layout(lazy, src)[1], dtype=np.int64)) for src in dict.fromkeys(nanq.values())}
    hist2_ops = [("hist1", src, j) for src, m in nanq_cols.items() for j in range(m)]
    r1 = mapper(p1 + hist_ops + hist2_ops)
    sums = {op[1]: r for op, r in zip(p1, r1) if op[0] == "sum"}
    res1 = dict(zip([op[0] + ":" + str(op[1]) + (f":{op[3]}" if op[0] == "batch" else "") for op in p1],
                    r1[:len(p1)]))
    sel.take_first(hist_ops, r1[len(p1):len(p1) + len(hist_ops)])
    # NaN-excluded quantiles: their ranks follow from the counts of valid values
    n_valid = {src: (n - sums[src][1]).astype(np.int64) for src in nanq_cols}
    sel2 = Selector()
    for src in nanq_cols:
        for j in range(n_valid[src].size):
            nv = int(n_valid[src][j])
            for lo, hi, _ in (np_quantile_ranks(nv, q) for q in QUANTILES) if nv else ():
                sel2.want(src, j, lo)
                sel2.want(src, j, hi)
    h2 = [op for op in hist2_ops if any(t.var == op[1] and t.col == op[2] for t in sel2.targets.values())]
    got2 = dict(zip(hist2_ops, r1[len(p1) + len(hist_ops):]))
    sel2.take_first(h2, [got2[op] for op in h2])
    means = {v: sums[v][0] / n for v in moment_vars}

    # pass 2..: squared deviations, batch deviations, then refine until every rank is found
    say("summary: order statistics")
    p2 = [("sqdev", v, means[v]) for v in moment_vars]
    batch_means = None
    if he_ok:
        batch_means = []
        for j in range(M):
            b = res1[f"batch:hedged_value:{j}"]
            batch_means.append(np.stack([b[:, 1] / b[:, 0], b[:, 2] / b[:, 0]], axis=1))
        p2 += [("batchsq", "hedged_value", "unhedged_value", j, m_batch, nb, batch_means[j]) for j in range(M)]
    ops = sel.pending_ops()
    r2 = mapper(p2 + ops)
    sq = {op[1]: r for op, r in zip(p2, r2) if op[0] == "sqdev"}
    bsq = [r for op, r in zip(p2, r2) if op[0] == "batchsq"]
    sel.take(ops, r2[len(p2):])
    while True:
        ops, ops2 = sel.pending_ops(), sel2.pending_ops()
        if not ops and not ops2:
            break
        r = mapper(ops + ops2)
        sel.take(ops, r[:len(ops)])
        sel2.take(ops2, r[len(ops):])

    # VaR per (portfolio, column, level) as a loss; then the tail and influence sums
    var_loss = np.empty((2, M, len(LEVELS)))
    for p, var in enumerate(ports):
        for j in range(M):
            for li, (k, _, _) in enumerate(var_ranks):
                var_loss[p, j, li] = -sel.value(var, j, k - 1)
    say("summary: tails")
    p3 = []
    for p, var in enumerate(ports):
        for j in range(M):
            for li in range(len(LEVELS)):
                p3.append(("tail", var, j, float(var_loss[p, j, li])))
    for j in range(M):  # hedged minus unhedged, same paths
        for li, a in enumerate(LEVELS):
            p3.append(("dd", "hedged_pnl", j, float(var_loss[0, j, li]), "unhedged_pnl", j,
                       float(var_loss[1, j, li]), float(a)))
    base_col = T - 1 if has_time else 0  # the first variant at the horizon
    if liq_dims:
        for j in t_cols:
            for li, a in enumerate(LEVELS):
                p3.append(("dd", "hedged_pnl", j, float(var_loss[0, j, li]), "hedged_pnl", base_col,
                           float(var_loss[0, base_col, li]), float(a)))
    r3 = mapper(p3)
    tails = iter(r3)

    out: dict[str, np.ndarray] = {}
    # ---- VaR / ES
    var = np.empty((2, M, len(LEVELS)))
    var_se = np.empty_like(var)
    es = np.empty_like(var)
    es_se = np.empty_like(var)
    for p, pv in enumerate(ports):
        for j in range(M):
            for li, (a, (k, r_lo, r_hi)) in enumerate(zip(LEVELS, var_ranks)):
                v = var_loss[p, j, li]
                c, s1, s2 = next(tails)
                var[p, j, li] = v
                var_se[p, j, li] = ((-sel.value(pv, j, r_lo - 1)) - (-sel.value(pv, j, r_hi - 1))) / (2 * stats.Z95) \
                    if n > 1 else math.nan
                mean_d = s1 / k  # the k largest losses are v + d, d > 0 for those beyond v
                es[p, j, li] = v + mean_d
                if k > 1:
                    ss = max(s2 - k * mean_d * mean_d, 0.0)
                    tail_sd2 = ss / (k - 1)
                    es_se[p, j, li] = math.sqrt((tail_sd2 + a * (es[p, j, li] - v) ** 2) / k)
                else:
                    es_se[p, j, li] = math.nan
    out["var"], out["var_se"], out["es"], out["es_se"] = var, var_se, es, es_se
    # ---- quantiles and their intervals
    pq = np.empty((2, M, QUANTILES.size))
    pql = np.empty_like(pq)
    pqh = np.empty_like(pq)
    for p, pv in enumerate(ports):
        for j in range(M):
            for qi, (lo, hi, t) in enumerate(q_ranks):
                pq[p, j, qi] = np_lerp(sel.value(pv, j, lo), sel.value(pv, j, hi), t)
                pql[p, j, qi] = sel.value(pv, j, qi_ranks[qi][0])
                pqh[p, j, qi] = sel.value(pv, j, qi_ranks[qi][1])
    out["pnl_quantile"], out["pnl_quantile_low"], out["pnl_quantile_high"] = pq, pql, pqh
    # ---- moments
    ddof_n = n - 1

    def sd_of(v):
        return np.sqrt(sq[v] / ddof_n) if n > 1 else np.full(sq[v].shape, np.nan)

    out["pnl_mean"] = np.stack([means["hedged_pnl"], means["unhedged_pnl"]])
    out["pnl_std"] = np.stack([sd_of("hedged_pnl"), sd_of("unhedged_pnl")])
    out["pnl_mean_se"] = out["pnl_std"] / math.sqrt(n) if n > 1 else np.full((2, M), np.nan)
    vh = sq["hedged_value"] / ddof_n if n > 1 else np.full(M, np.nan)
    vu = sq["unhedged_value"] / ddof_n if n > 1 else np.full(M, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["hedge_effectiveness"] = np.where(vu > 0, 1.0 - vh / np.where(vu > 0, vu, np.nan), np.nan)
    if "hedge_effectiveness_se" in tmpl:
        he_se = np.full(M, np.nan)
        if he_ok:
            for j in range(M):
                b, bs = res1[f"batch:hedged_value:{j}"], bsq[j]
                vhb, vub = bs[:, 1] / (b[:, 0] - 1), bs[:, 2] / (b[:, 0] - 1)
                if np.all(vub > 0):
                    he_se[j] = float(np.std(1.0 - vhb / vub, ddof=1) / np.sqrt(nb))
        out["hedge_effectiveness_se"] = he_se
    for name, src in MEAN_VARS.items():
        out[name] = means[src]
        out[name + "_se"] = sd_of(src) / math.sqrt(n) if n > 1 else np.full(means[src].shape, np.nan)
    # ---- NaN-excluded quantiles
    for name, src in nanq.items():
        vals = np.full((n_valid[src].size, QUANTILES.size), np.nan)
        for j in range(n_valid[src].size):
            nv = int(n_valid[src][j])
            if nv:
                for qi, q in enumerate(QUANTILES):
                    lo, hi, t = np_quantile_ranks(nv, q)
                    vals[j, qi] = np_lerp(sel2.value(src, j, lo), sel2.value(src, j, hi), t)
        out[name] = vals
    # ---- proportions
    k_liq = sums["liquidated"][0]
    out.update(_proportions("liquidation_probability", k_liq, n))
    if threshold is not None:
        out.update(_proportions("shortfall_probability", res1["below:hedged_value"], n))
    # ---- ES differences with paired SEs
    d = np.empty((M, len(LEVELS)))
    dse = np.empty_like(d)
    for j in range(M):
        for li in range(len(LEVELS)):
            d[j, li] = es[0, j, li] - es[1, j, li]
            dse[j, li] = _dd_se(next(tails))
    out["es_hedged_minus_unhedged"], out["es_hedged_minus_unhedged_se"] = d, dse
    if liq_dims:
        cross = res1["cross:liquidated"]
        n_plus, n_minus = cross[0], cross[1]
        mean_dl = (k_liq - k_liq[0]) / n
        ss = n_plus * (1 - mean_dl) ** 2 + n_minus * (-1 - mean_dl) ** 2 + (n - n_plus - n_minus) * mean_dl ** 2
        out["liquidation_probability_vs_base"] = mean_dl
        out["liquidation_probability_vs_base_se"] = np.sqrt(ss / (n - 1)) / np.sqrt(n) if n > 1 else mean_dl * np.nan
        e = np.empty((len(t_cols), len(LEVELS)))
        ese = np.empty_like(e)
        for i, j in enumerate(t_cols):
            for li in range(len(LEVELS)):
                e[i, li] = es[0, j, li] - es[0, base_col, li]
                ese[i, li] = _dd_se(next(tails))
        out["es_hedged_vs_base"], out["es_hedged_vs_base_se"] = e, ese

    return _to_dataarrays(out, tmpl, pnl_dims, pnl_shape, liq_dims, liq_shape, has_time)


def _dd_se(sums: np.ndarray) -> float:
    """Paired SE sd(dd)/sqrt(n) from the sums of dd - (va - vb), dd = phi_a - phi_b."""
    cnt, s1, s2 = sums
    n = int(cnt)
    if n < 2:
        return math.nan
    ss = max(s2 - s1 * s1 / n, 0.0)  # shifting leaves the spread unchanged
    return math.sqrt(ss / (n - 1)) / math.sqrt(n)


def _proportions(name: str, k: np.ndarray, n: int) -> dict:
    """stats.proportion from a count, for every column."""
    k = np.atleast_1d(np.asarray(k, dtype=np.float64))
    p = k / n
    se = np.sqrt(p * (1 - p) / n)
    ci = np.array([stats.wilson_interval(float(x), n) for x in k]).reshape(k.size, 2)
    return {name: p, name + "_se": se, name + "_low": ci[:, 0], name + "_high": ci[:, 1]}


def _to_dataarrays(out, tmpl, pnl_dims, pnl_shape, liq_dims, liq_shape, has_time) -> dict:
    """Shape the flat arrays like the template's variables (same dims, coords, attrs)."""
    layouts = {  # name -> (dims of the flat array after reshaping, shape)
        "pnl2": (["portfolio", *pnl_dims], (2, *pnl_shape)),
        "pnl": (pnl_dims, pnl_shape),
        "liq": (liq_dims, liq_shape),
    }
    spec = {
        "var": ("pnl2", "level"), "var_se": ("pnl2", "level"), "es": ("pnl2", "level"), "es_se": ("pnl2", "level"),
        "pnl_quantile": ("pnl2", "quantile"), "pnl_quantile_low": ("pnl2", "quantile"),
        "pnl_quantile_high": ("pnl2", "quantile"), "pnl_mean": ("pnl2", None), "pnl_std": ("pnl2", None),
        "pnl_mean_se": ("pnl2", None), "hedge_effectiveness": ("pnl", None), "hedge_effectiveness_se": ("pnl", None),
        "es_hedged_minus_unhedged": ("pnl", "level"), "es_hedged_minus_unhedged_se": ("pnl", "level"),
        "es_hedged_vs_base": ("liq", "level"), "es_hedged_vs_base_se": ("liq", "level"),
        "liquidation_probability_vs_base": ("liq", None), "liquidation_probability_vs_base_se": ("liq", None),
    }
    for name in ("liquidation_probability", "shortfall_probability"):
        for suffix in ("", "_se", "_low", "_high"):
            spec[name + suffix] = ("liq", None)
    for name in MEAN_VARS:
        spec[name] = spec[name + "_se"] = ("liq", None)
    for name in NANQ_VARS:
        spec[name] = ("liq", "quantile")
    arrays = {}
    for name, values in out.items():
        if name not in tmpl:
            continue
        lay, extra = spec[name]
        dims, shape = layouts[lay]
        vals = np.asarray(values, dtype=np.float64)
        full_dims = list(dims) + ([extra] if extra else [])
        full_shape = tuple(shape) + ((vals.shape[-1],) if extra else ())
        da = xr.DataArray(vals.reshape(full_shape), dims=full_dims)
        t = tmpl[name]
        arrays[name] = t.copy(data=da.transpose(*t.dims).values)
    return arrays
