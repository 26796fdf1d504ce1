"""From what the passes over a store found to the summary variables.

The same estimators as :func:`sim.results.summarize` (docs/outputs.md), written in terms
of exact order statistics (:mod:`~sim.results.streamed.select`) and of sums merged over
chunks (:mod:`~sim.results.streamed.passes`): VaR and its band, quantiles and their
intervals are bitwise those of the single-process summary; means, standard deviations,
ES and their SEs agree with it to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import xarray as xr

from sim.results import LEVELS, QUANTILES, stats
from sim.results.streamed.select import Selector, np_lerp, np_quantile_ranks

PORTS = ["hedged_pnl", "unhedged_pnl"]
HE_BATCHES = 20  # batches of consecutive paths for the SE of hedge effectiveness (stats.hedge_effectiveness_batch_se)
MEAN_VARS = {"funding_mean": "funding", "funding_usd_mean": "funding_usd", "fees_mean": "fees",
             "max_drawdown_mean": "max_drawdown"}
NANQ_VARS = {"liquidation_time_quantile": "liquidation_time", "funding_quantile": "funding",
             "max_drawdown_quantile": "max_drawdown"}
# summary variables computed here (unweighted results)
STREAMED = {
    "liquidation_probability", "liquidation_probability_se", "liquidation_probability_low",
    "liquidation_probability_high", "value_at_risk", "value_at_risk_se", "expected_shortfall", "expected_shortfall_se", "pnl_mean", "pnl_mean_se", "pnl_std",
    "pnl_quantile", "pnl_quantile_low", "pnl_quantile_high", "hedge_effectiveness", "hedge_effectiveness_se",
    "funding_mean", "funding_mean_se", "funding_usd_mean", "funding_usd_mean_se", "fees_mean", "fees_mean_se",
    "max_drawdown_mean", "max_drawdown_mean_se", "liquidation_time_quantile", "funding_quantile",
    "max_drawdown_quantile", "es_hedged_minus_unhedged", "es_hedged_minus_unhedged_se",
    "liquidation_probability_vs_base", "liquidation_probability_vs_base_se", "es_hedged_vs_base",
    "es_hedged_vs_base_se", "shortfall_probability", "shortfall_probability_se", "shortfall_probability_low",
    "shortfall_probability_high",
}


@dataclass(frozen=True)
class Ranks:
    """The order statistics of each pnl column that the summary of ``n`` paths needs."""

    var: list  # per level: (k, r_lo, r_hi), 1-based: VaR is the k-th largest loss, its band ranks r_lo..r_hi
    q: list  # per quantile: the 0-based ranks and weight numpy's linear quantile interpolates between
    qi: list  # per quantile: the 0-based ranks of its 95 % interval (as stats.quantile_interval)

    @classmethod
    def of(cls, n: int) -> "Ranks":
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
            qi_ranks.append((int(min(max(math.floor(n * q - w), 0), n - 1)),
                             int(min(max(math.ceil(n * q + w), 0), n - 1))))
        return cls(var_ranks, q_ranks, qi_ranks)

    def want(self, sel: Selector, var: str, col: int) -> None:
        for k, r_lo, r_hi in self.var:  # k-th largest loss = k-th smallest pnl
            for r in (k, r_lo, r_hi):
                sel.want(var, col, r - 1)
        for lo, hi, _ in self.q:
            sel.want(var, col, lo)
            sel.want(var, col, hi)
        for lo, hi in self.qi:
            sel.want(var, col, lo)
            sel.want(var, col, hi)


@dataclass
class Passes:
    """What the passes over the store found."""

    n: int  # paths
    M: int  # pnl columns (the non-path dims of hedged_pnl, flattened)
    ranks: Ranks
    sel: Selector  # order statistics of the pnl columns
    sel2: Selector  # order statistics of the NaN-excluded columns (NANQ_VARS)
    n_valid: dict  # NaN-excluded variable -> its number of valid values per column
    nanq: dict  # the NANQ_VARS of this result
    sums: dict  # variable -> (2, columns): sums, NaN counts
    firsts: dict  # the other results of the first pass: "cross:liquidated", "below:hedged_value", "batch:...:j"
    means: dict
    sq: dict  # variable -> sums of squared deviations about its mean
    bsq: list  # per pnl column: batch sums of squared deviations about the batch means
    he_ok: bool  # enough paths for the batch SE of hedge effectiveness
    var_loss: np.ndarray  # (2, M, levels): VaR as a loss, hedged and unhedged
    tails: list  # the tail and paired-difference sums, in the order estimates() consumes them
    threshold: float | None
    t_cols: list  # pnl columns at the horizon
    base_col: int  # the first variant at the horizon
    has_variants: bool  # liquidated has dims besides path (sweeps, report times)


def estimates(p: Passes, tmpl: xr.Dataset) -> dict[str, np.ndarray]:
    """Every streamed summary variable as a flat array (see ``to_dataarrays``)."""
    out: dict[str, np.ndarray] = {}
    tails = iter(p.tails)
    es = _var_es(p, tails, out)
    _quantiles(p, out)
    _moments(p, tmpl, out)
    _nan_quantiles(p, out)
    k_liq = p.sums["liquidated"][0]
    out.update(_proportions("liquidation_probability", k_liq, p.n))
    if p.threshold is not None:
        out.update(_proportions("shortfall_probability", p.firsts["below:hedged_value"], p.n))
    _paired(p, es, k_liq, tails, out)
    return out


def _var_es(p: Passes, tails: Iterator, out: dict) -> np.ndarray:
    n, M, sel = p.n, p.M, p.sel
    var = np.empty((2, M, len(LEVELS)))
    var_se = np.empty_like(var)
    es = np.empty_like(var)
    es_se = np.empty_like(var)
    for pi, pv in enumerate(PORTS):
        for j in range(M):
            for li, (a, (k, r_lo, r_hi)) in enumerate(zip(LEVELS, p.ranks.var)):
                v = p.var_loss[pi, j, li]
                c, s1, s2 = next(tails)
                var[pi, j, li] = v
                var_se[pi, j, li] = ((-sel.value(pv, j, r_lo - 1)) - (-sel.value(pv, j, r_hi - 1))) / (2 * stats.Z95) \
                    if n > 1 else math.nan
                mean_d = s1 / k  # the k largest losses are v + d, d > 0 for those beyond v
                es[pi, j, li] = v + mean_d
                if k > 1:
                    ss = max(s2 - k * mean_d * mean_d, 0.0)
                    tail_sd2 = ss / (k - 1)
                    es_se[pi, j, li] = math.sqrt((tail_sd2 + a * (es[pi, j, li] - v) ** 2) / k)
                else:
                    es_se[pi, j, li] = math.nan
    out["value_at_risk"], out["value_at_risk_se"], out["expected_shortfall"], out["expected_shortfall_se"] = var, var_se, es, es_se
    return es


def _quantiles(p: Passes, out: dict) -> None:
    """Quantiles of the pnl and their intervals."""
    sel, qi_ranks = p.sel, p.ranks.qi
    pq = np.empty((2, p.M, QUANTILES.size))
    pql = np.empty_like(pq)
    pqh = np.empty_like(pq)
    for pi, pv in enumerate(PORTS):
        for j in range(p.M):
            for qi, (lo, hi, t) in enumerate(p.ranks.q):
                pq[pi, j, qi] = np_lerp(sel.value(pv, j, lo), sel.value(pv, j, hi), t)
                pql[pi, j, qi] = sel.value(pv, j, qi_ranks[qi][0])
                pqh[pi, j, qi] = sel.value(pv, j, qi_ranks[qi][1])
    out["pnl_quantile"], out["pnl_quantile_low"], out["pnl_quantile_high"] = pq, pql, pqh


def _moments(p: Passes, tmpl: xr.Dataset, out: dict) -> None:
    """Means, standard deviations and their SEs; hedge effectiveness and its batch SE."""
    n, M, sq, means = p.n, p.M, p.sq, p.means
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
        if p.he_ok:
            for j in range(M):
                b, bs = p.firsts[f"batch:hedged_value:{j}"], p.bsq[j]
                vhb, vub = bs[:, 1] / (b[:, 0] - 1), bs[:, 2] / (b[:, 0] - 1)
                if np.all(vub > 0):
                    he_se[j] = float(np.std(1.0 - vhb / vub, ddof=1) / np.sqrt(HE_BATCHES))
        out["hedge_effectiveness_se"] = he_se
    for name, src in MEAN_VARS.items():
        out[name] = means[src]
        out[name + "_se"] = sd_of(src) / math.sqrt(n) if n > 1 else np.full(means[src].shape, np.nan)


def _nan_quantiles(p: Passes, out: dict) -> None:
    """Quantiles of the valid (non-NaN) values, e.g. of the liquidation time."""
    for name, src in p.nanq.items():
        vals = np.full((p.n_valid[src].size, QUANTILES.size), np.nan)
        for j in range(p.n_valid[src].size):
            nv = int(p.n_valid[src][j])
            if nv:
                for qi, q in enumerate(QUANTILES):
                    lo, hi, t = np_quantile_ranks(nv, q)
                    vals[j, qi] = np_lerp(p.sel2.value(src, j, lo), p.sel2.value(src, j, hi), t)
        out[name] = vals


def _paired(p: Passes, es: np.ndarray, k_liq: np.ndarray, tails: Iterator, out: dict) -> None:
    """Differences on the same paths with paired SEs: hedged minus unhedged ES, and each
    variant against the first (liquidation probability, hedged ES)."""
    n, M = p.n, p.M
    d = np.empty((M, len(LEVELS)))
    dse = np.empty_like(d)
    for j in range(M):
        for li in range(len(LEVELS)):
            d[j, li] = es[0, j, li] - es[1, j, li]
            dse[j, li] = _dd_se(next(tails))
    out["es_hedged_minus_unhedged"], out["es_hedged_minus_unhedged_se"] = d, dse
    if p.has_variants:
        cross = p.firsts["cross:liquidated"]
        n_plus, n_minus = cross[0], cross[1]
        mean_dl = (k_liq - k_liq[0]) / n
        ss = n_plus * (1 - mean_dl) ** 2 + n_minus * (-1 - mean_dl) ** 2 + (n - n_plus - n_minus) * mean_dl ** 2
        out["liquidation_probability_vs_base"] = mean_dl
        out["liquidation_probability_vs_base_se"] = np.sqrt(ss / (n - 1)) / np.sqrt(n) if n > 1 else mean_dl * np.nan
        e = np.empty((len(p.t_cols), len(LEVELS)))
        ese = np.empty_like(e)
        for i, j in enumerate(p.t_cols):
            for li in range(len(LEVELS)):
                e[i, li] = es[0, j, li] - es[0, p.base_col, li]
                ese[i, li] = _dd_se(next(tails))
        out["es_hedged_vs_base"], out["es_hedged_vs_base_se"] = e, ese


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


def to_dataarrays(out: dict, tmpl: xr.Dataset, pnl_dims, pnl_shape, liq_dims, liq_shape) -> dict:
    """Shape the flat arrays like the template's variables (same dims, coords, attrs)."""
    layouts = {  # name -> (dims of the flat array after reshaping, shape)
        "pnl2": (["portfolio", *pnl_dims], (2, *pnl_shape)),
        "pnl": (pnl_dims, pnl_shape),
        "liq": (liq_dims, liq_shape),
    }
    spec = {
        "value_at_risk": ("pnl2", "level"), "value_at_risk_se": ("pnl2", "level"), "expected_shortfall": ("pnl2", "level"), "expected_shortfall_se": ("pnl2", "level"),
        "pnl_quantile": ("pnl2", "quantile_level"), "pnl_quantile_low": ("pnl2", "quantile_level"),
        "pnl_quantile_high": ("pnl2", "quantile_level"), "pnl_mean": ("pnl2", None), "pnl_std": ("pnl2", None),
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
        spec[name] = ("liq", "quantile_level")
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
