"""Summary statistics of a managed hedge (docs/policies.md): the probability of losing the
hedge at least once (``liquidation_probability``), of exhausting the reserve and of an
exchange default; reserve use (mean and quantiles), transfers, re-hedges; the expected
exchange loss, liquidation loss and their total — each with its standard error.
Importance weights are used when the result has them."""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.results import stats

PROBABILITIES = {"reserve_exhausted": "the reserve runs empty (while a top-up or re-hedge rule is on) or cannot pay one",
                 "exchange_default": "the exchange defaults within the horizon"}
MEANS = {"reserve_used": "{m}", "withdrawn": "{m}", "top_ups": "1", "rehedges": "1", "max_on_exchange": "{m}",
         "mean_on_exchange": "{m}", "exchange_loss": "{m}", "exchange_loss_usd": "USD", "liquidation_loss_usd": "USD",
         "rebalances": "1", "partial_liquidations": "1"}


def policy_summary_vars(ds: xr.Dataset) -> list[str]:
    """The names ``summarize_policy`` adds (empty for a static hedge)."""
    if "reserve_used" not in ds:
        return []
    names = []
    for k in PROBABILITIES:
        names += [f"{k}_probability" + s for s in ("", "_se", "_low", "_high")]
    for k in MEANS:
        names += [f"{k}_mean", f"{k}_mean_se"]
    return names + ["reserve_used_quantile", "expected_total_loss", "expected_total_loss_se"]


def summarize_policy(ds: xr.Dataset, m_unit: str, quantiles: np.ndarray) -> None:
    """Add the policy summary to ``ds`` in place (no-op for a static hedge)."""
    if "reserve_used" not in ds:
        return
    w = ds["weight"] if "weight" in ds else None
    tag = ", IS-weighted" if w is not None else ""

    def per_path(fn, x, out_dims):
        args = [x] if w is None else [x, w]
        return xr.apply_ufunc(fn, *args, input_core_dims=[["path"]] * len(args), output_core_dims=[out_dims],
                              vectorize=True)

    for k, meaning in PROBABILITIES.items():
        fn = (lambda x: np.array(stats.proportion(x))) if w is None else \
            (lambda x, ww: np.array(stats.weighted_proportion(x, ww)))
        p = per_path(fn, ds[k], ["_stat"])
        for j, suffix in enumerate(["", "_se", "_low", "_high"]):
            ln = f"probability that {meaning}" + tag + ("" if not suffix else f" ({suffix[1:]})")
            ds[f"{k}_probability{suffix}"] = p.isel(_stat=j).assign_attrs(units="1", long_name=ln)

    def mean(x, ww=None):
        x = np.asarray(x, dtype=np.float64)
        y = x if ww is None else x * ww
        m, se, _ = stats.mean_se(y)
        return np.array([m, se])

    for k, units in MEANS.items():
        r = per_path(mean, ds[k], ["_stat"])
        u = units.format(m=m_unit)
        ds[f"{k}_mean"] = r.isel(_stat=0).assign_attrs(units=u, long_name=f"mean of {k}{tag}")
        ds[f"{k}_mean_se"] = r.isel(_stat=1).assign_attrs(units=u, long_name=f"standard error of the mean of {k}")
    total = ds["liquidation_loss_usd"] + ds["exchange_loss_usd"]
    r = per_path(mean, total, ["_stat"])
    ds["expected_total_loss"] = r.isel(_stat=0).assign_attrs(
        units="USD", long_name="expected liquidation loss plus exchange loss" + tag)
    ds["expected_total_loss_se"] = r.isel(_stat=1).assign_attrs(units="USD", long_name="its standard error")
    qfn = (lambda x: stats.quantiles(x, quantiles)) if w is None else \
        (lambda x, ww: stats.weighted_quantiles(x, ww, quantiles))
    ds["reserve_used_quantile"] = per_path(qfn, ds["reserve_used"], ["quantile_level"]).assign_coords(
        quantile_level=quantiles).assign_attrs(units=m_unit, long_name="quantiles of the reserve used" + tag)
