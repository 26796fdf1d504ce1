"""The summary of a result store: the passes over its chunks, then the estimates.

1. sums, NaN counts, batch sums and the first histograms of the order statistics;
2. squared deviations about the means found in pass 1, batch deviations, and the
   refinement of the order statistics, repeated until every wanted rank is found;
3. the tail sums beyond each VaR and the sums of the paired ES influence differences.
"""

from __future__ import annotations

import json
import warnings
from typing import Callable

import numpy as np
import xarray as xr

from sim.kernel.args import POLICY_OUTPUTS
from sim.results import LEVELS, QUANTILES, SUMMARY_VARS, summarize
from sim.results.policy_summary import policy_summary_vars, summarize_policy
from sim.results.streamed.estimates import (
    HE_BATCHES, MEAN_VARS, NANQ_VARS, PORTS, STREAMED, Passes, Ranks, estimates, to_dataarrays,
)
from sim.results.streamed.passes import Mapper
from sim.results.streamed.select import Selector, np_quantile_ranks


def summarize_store(store: str, *, client=None, progress: Callable[[str], None] | None = None
                    ) -> tuple[xr.Dataset, dict]:
    """The summary variables of a complete set of per-path data in ``store`` (a .zarr
    directory), as a Dataset without the ``path`` dim, and facts about how it was
    computed (method, passes, variables left out). A managed hedge's summary
    (``sim.results.policy_summary``) is computed from its per-path policy variables,
    loaded alone (eleven numbers a path and variant)."""
    summ, info = _summarize(store, client=client, progress=progress)
    lazy = xr.open_zarr(store, consolidated=False, chunks=None)
    if "reserve_used" in lazy:
        names = [name for name, _, _ in POLICY_OUTPUTS] + (["weight"] if "weight" in lazy else [])
        part = lazy[names].load().assign_coords(quantile_level=QUANTILES)
        m_unit = lazy.attrs.get("margin_unit", lazy["funding"].attrs.get("units", "BTC"))
        summarize_policy(part, m_unit, QUANTILES)
        for v in policy_summary_vars(part):
            summ[v] = part[v].drop_vars("path", errors="ignore")
    return summ, info


def _summarize(store: str, *, client=None, progress: Callable[[str], None] | None = None
               ) -> tuple[xr.Dataset, dict]:
    lazy = xr.open_zarr(store, consolidated=False, chunks=None)
    if "weight" in lazy:
        return _summarize_in_memory(lazy)
    n = lazy.sizes["path"]
    tmpl = _template(lazy)
    chunk = _path_chunk(store)
    mapper = Mapper(store, [(a, min(n, a + chunk)) for a in range(0, n, chunk)], client)
    wanted = [v for v in SUMMARY_VARS if v in tmpl]
    missing = [v for v in wanted if v not in STREAMED]
    out = _stream(lazy, tmpl, n, mapper, progress)
    info = {"method": "streamed over chunks of the store (exact order statistics, merged sums)",
            "passes": mapper.passes, "chunks": len(mapper.chunks), "not_computed": missing}
    if missing:
        warnings.warn(f"distributed summary: {', '.join(missing)} not computed (not streamable yet)")
    keep = [v for v in wanted if v in out]
    summ = xr.Dataset({v: out[v] for v in keep})
    summ.attrs = {k: v for k, v in tmpl.attrs.items() if k not in lazy.attrs}  # e.g. value_threshold_usd
    for c in ("level", "quantile_level", "portfolio"):
        if c in tmpl.coords:
            summ = summ.assign_coords({c: tmpl[c]})
    return summ, info


def _template(lazy: xr.Dataset) -> xr.Dataset:
    """results.summarize on the first paths: the names, dims, coords and attrs of every
    summary variable (values are replaced)."""
    n0 = min(lazy.sizes["path"], 40)
    per_path = [v for v in lazy.data_vars if "path" in lazy[v].dims]
    small = lazy[per_path].isel(path=slice(0, n0)).load()
    small.attrs = dict(lazy.attrs)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return summarize(small)


def _path_chunk(store: str) -> int:
    import zarr

    arr = zarr.open_array(store=store, path="liquidated", mode="r")
    return int(arr.chunks[0])


def _summarize_in_memory(lazy: xr.Dataset) -> tuple[xr.Dataset, dict]:
    per_path = [v for v in lazy.data_vars if "path" in lazy[v].dims]
    ds = lazy[per_path].load()
    ds.attrs = dict(lazy.attrs)
    full = summarize(ds)
    keep = [v for v in SUMMARY_VARS if v in full]
    summ = full[keep].drop_vars("path", errors="ignore")
    summ.attrs = {k: v for k, v in full.attrs.items() if k not in lazy.attrs}
    return summ, {"method": "sim.results.summarize on the loaded per-path variables (importance weights)",
                  "passes": 1, "not_computed": []}


def _layout(ds: xr.Dataset, var: str) -> tuple[list[str], tuple[int, ...]]:
    dims = [d for d in ds[var].dims if d != "path"]
    return dims, tuple(ds.sizes[d] for d in dims)


def _stream(lazy: xr.Dataset, tmpl: xr.Dataset, n: int, mapper: Mapper, progress) -> dict:
    say = progress or (lambda s: None)
    pnl_dims, pnl_shape = _layout(lazy, "hedged_pnl")
    M = int(np.prod(pnl_shape, dtype=np.int64))
    liq_dims, liq_shape = _layout(lazy, "liquidated")
    has_time = "time" in pnl_dims
    T = lazy.sizes["time"] if has_time else 1
    sel = Selector()

    # ranks of VaR (and its band) and of the quantiles (and their intervals), per pnl column
    ranks = Ranks.of(n)
    for var in PORTS:
        for j in range(M):
            ranks.want(sel, var, j)

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
    for p, var in enumerate(PORTS):
        for j in range(M):
            for li, (k, _, _) in enumerate(ranks.var):
                var_loss[p, j, li] = -sel.value(var, j, k - 1)
    say("summary: tails")
    p3 = []
    for p, var in enumerate(PORTS):
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

    found = Passes(n=n, M=M, ranks=ranks, sel=sel, sel2=sel2, n_valid=n_valid, nanq=nanq, sums=sums, firsts=res1,
                   means=means, sq=sq, bsq=bsq, he_ok=he_ok, var_loss=var_loss, tails=r3, threshold=threshold,
                   t_cols=t_cols, base_col=base_col, has_variants=bool(liq_dims))
    return to_dataarrays(estimates(found, tmpl), tmpl, pnl_dims, pnl_shape, liq_dims, liq_shape)
