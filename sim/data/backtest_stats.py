"""The Dataset of ``sim.data.backtest.backtest`` and its statistics (docs/validation.md).

Forecasts are over ``(start, model, calibration)``: a model (``sim.data.methods``) x a
calibration choice (``sim.data.choices``); a pair that does not exist (a model that takes
no factor, with a stress weight) is NaN. With a single calibration choice the
``calibration`` dim is dropped (kept as a scalar coordinate), so the variables have the
dims of earlier versions. Every (model, calibration) pair with a forecast at every start is
a ``method`` (``"gbm 365d"``, or ``"gbm"`` with one choice); ``brier_difference`` is over
``(method, reference)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from sim.config import format_duration
from sim.data.replay import assemble_windows
from sim.data.scoring import (
    LEVEL, LOG_CLIP, base_rate_forecasts, block_bootstrap_interval, brier_score, buckets, christoffersen_ind,
    kupiec_pof, log_losses, non_overlapping, resample_indices, skill, wilson_interval,
)
from sim.version import __version__

LEVELS = (0.95, 0.99)
BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
PORTFOLIOS = ("hedged", "unhedged")
MC = ("model", "calibration")


def method_labels(models, choices) -> list[tuple[int, int, str]]:
    """(model index, choice index, label) of every pair, in order: model-major."""
    one = len(choices) == 1
    return [(a, c, m if one else f"{m} {ch.label}") for a, m in enumerate(models) for c, ch in enumerate(choices)]


def _forecasts(ds, pred, models, choices):
    nm, nc = len(models), len(choices)
    n = len(pred)
    p = np.full((n, nm, nc), np.nan)
    pse = np.full_like(p, np.nan)
    var = np.full((n, nm, nc, len(PORTFOLIOS), len(LEVELS)), np.nan)
    es = np.full_like(var, np.nan)
    for i, pr in enumerate(pred):
        for a in range(nm):
            for c in range(nc):
                d = pr[a][c]
                if d is None:
                    continue
                p[i, a, c], pse[i, a, c] = d["p"], d["p_se"]
                for b, pf in enumerate(PORTFOLIOS):
                    for k, lv in enumerate(LEVELS):
                        var[i, a, c, b, k] = d[("value_at_risk", pf, lv)]
                        es[i, a, c, b, k] = d[("expected_shortfall", pf, lv)]
    d3 = ("start",) + MC
    ds["predicted_liquidation_probability"] = (d3, p, {
        "units": "1", "long_name": "simulated probability that the hedge is liquidated within the window"})
    ds["predicted_liquidation_probability_se"] = (d3, pse, {"units": "1", "long_name": "its Monte Carlo SE"})
    d5 = d3 + ("portfolio", "level")
    ds["predicted_var"] = (d5, var, {"units": "USD", "long_name": "predicted value at risk of PnL over the window "
                                     "(positive = loss)"})
    ds["predicted_es"] = (d5, es, {"units": "USD", "long_name": "predicted expected shortfall of PnL over the "
                                   "window (positive = loss)"})
    return p, var


def _var_tests(ds, var, keep):
    loss = -np.stack([ds["hedged_pnl"].values, ds["unhedged_pnl"].values], axis=1)  # (start, portfolio)
    exc = loss[:, None, None, :, None] > var
    ds["var_exception"] = (("start",) + MC + ("portfolio", "level"), exc, {
        "units": "1", "long_name": "realised loss exceeded the predicted VaR"})
    shape = var.shape[1:]
    kp, cp = np.full(shape, np.nan), np.full(shape, np.nan)
    cnt, cnt_all = np.zeros(shape), np.zeros(shape)
    for idx in np.ndindex(*shape):
        a, c, b, k = idx
        if not np.isfinite(var[:, a, c, b, k]).all():
            cnt[idx] = cnt_all[idx] = np.nan
            continue
        e = exc[(keep,) + idx]
        kp[idx] = kupiec_pof(e, LEVELS[k])[1]
        cp[idx] = christoffersen_ind(e)[1]
        cnt[idx] = e.sum()
        cnt_all[idx] = exc[(slice(None),) + idx].sum()
    dims = MC + ("portfolio", "level")
    ds["kupiec_pvalue"] = (dims, kp, {"units": "1", "long_name": "Kupiec proportion-of-failures test p-value "
                                      "(non-overlapping windows)"})
    ds["christoffersen_pvalue"] = (dims, cp, {"units": "1", "long_name": "Christoffersen independence test "
                                              "p-value (non-overlapping windows)"})
    ds["exceptions"] = (dims, cnt, {"units": "windows", "long_name": "VaR exceptions in the non-overlapping windows"})
    ds["exceptions_all"] = (dims, cnt_all, {"units": "windows", "long_name": "VaR exceptions over all windows "
                                            "(overlapping; descriptive only)"})


def _scores(ds, p, y, keep, base, labels, idx_rs):
    nm, nc = p.shape[1:]
    bs, bs_no, ls, sk0, skb, mean_p = (np.full((nm, nc), np.nan) for _ in range(6))
    bs0 = float(np.mean(y))  # always 0
    for a in range(nm):
        for c in range(nc):
            q = p[:, a, c]
            if not np.isfinite(q).all():
                continue
            bs[a, c] = brier_score(q, y)
            bs_no[a, c] = brier_score(q[keep], y[keep])
            ls[a, c] = float(np.mean(log_losses(q, y)))
            mean_p[a, c] = float(q.mean())
            sk0[a, c] = skill(bs[a, c], bs0)
            m = np.isfinite(base[:, c])
            if m.any():
                skb[a, c] = skill(brier_score(q[m], y[m]), brier_score(base[m, c], y[m]))
    ds["brier_score"] = (MC, bs, {"units": "1", "long_name": "Brier score of the liquidation forecasts, all "
                                  "windows (0 = perfect)"})
    ds["brier_score_non_overlapping"] = (MC, bs_no, {"units": "1", "long_name": "Brier score over the "
                                                     "non-overlapping windows"})
    ds["log_score"] = (MC, ls, {"units": "nats", "long_name": f"mean -[y ln p + (1-y) ln(1-p)], p clipped to "
                                f"[{LOG_CLIP:g}, 1-{LOG_CLIP:g}] (lower is better)"})
    ds["mean_forecast"] = (MC, mean_p, {"units": "1", "long_name": "mean predicted liquidation probability"})
    ds["brier_skill_zero"] = (MC, sk0, {"units": "1", "long_name": "1 - Brier / Brier of always forecasting 0"})
    ds["brier_skill_base_rate"] = (MC, skb, {"units": "1", "long_name": "1 - Brier / Brier of the base rate "
                                             "known at each start (starts where it is defined)"})
    # methods and the block bootstrap of their Brier differences
    valid = [(a, c, lab) for a, c, lab in labels if np.isfinite(p[:, a, c]).all()]
    names = [lab for _, _, lab in valid]
    nv = len(valid)
    diff, lo, hi = (np.full((nv, nv), np.nan) for _ in range(3))
    losses = [(p[:, a, c] - y) ** 2 for a, c, _ in valid]
    for i in range(nv):
        for j in range(nv):
            d = losses[i] - losses[j]
            diff[i, j] = float(d.mean())
            lo[i, j], hi[i, j] = block_bootstrap_interval(d, idx_rs)
    ds.coords["method"] = ("method", names, {"long_name": "forecast method: model and calibration choice"})
    ds.coords["reference"] = ("reference", names, {"long_name": "the method compared with"})
    ds.coords["method_model"] = ("method", [str(ds["model"].values[a]) for a, _, _ in valid])
    ds.coords["method_calibration"] = ("method", [str(ds["calibration"].values[c]) for _, c, _ in valid])
    pct = f"{100 * LEVEL:g} %"
    ds["brier_difference"] = (("method", "reference"), diff, {
        "units": "1", "long_name": "Brier score of the method minus that of the reference (negative: better)"})
    ds["brier_difference_low"] = (("method", "reference"), lo, {
        "units": "1", "long_name": f"lower end of its {pct} circular block-bootstrap interval over starts"})
    ds["brier_difference_high"] = (("method", "reference"), hi, {
        "units": "1", "long_name": f"upper end of its {pct} circular block-bootstrap interval over starts"})


def _buckets(ds, p, y, keep):
    edges = np.array(BUCKETS)
    labels = [f"[{edges[i]:g}, {edges[i + 1]:g}{']' if i == len(edges) - 2 else ')'}" for i in range(len(edges) - 1)]
    ds.coords["bucket"] = ("bucket", labels, {"long_name": "range of predicted liquidation probability"})
    nm, nc = p.shape[1:]
    nb = len(labels)
    out = {k: np.full((nm, nc, nb), np.nan) for k in ("n", "mp", "fr", "nn", "ev", "mpn", "frn", "lo", "hi")}
    for a in range(nm):
        for c in range(nc):
            q = p[:, a, c]
            if not np.isfinite(q).all():
                continue
            out["n"][a, c], _, out["mp"][a, c], out["fr"][a, c] = buckets(q, y, edges)
            nn, ev, out["mpn"][a, c], out["frn"][a, c] = buckets(q[keep], y[keep], edges)
            out["nn"][a, c], out["ev"][a, c] = nn, ev
            for k in range(nb):
                out["lo"][a, c, k], out["hi"][a, c, k] = wilson_interval(int(ev[k]), int(nn[k]))
    d = MC + ("bucket",)
    pct = f"{100 * LEVEL:g} %"
    for key, name, units, ln in (
            ("n", "bucket_windows", "windows", "windows in the bucket"),
            ("mp", "bucket_predicted", "1", "mean predicted probability"),
            ("fr", "bucket_realised", "1", "realised liquidation frequency"),
            ("nn", "bucket_windows_non_overlapping", "windows", "non-overlapping windows in the bucket"),
            ("ev", "bucket_liquidated_non_overlapping", "windows", "of them liquidated"),
            ("mpn", "bucket_predicted_non_overlapping", "1", "mean predicted probability, non-overlapping windows"),
            ("frn", "bucket_realised_non_overlapping", "1", "realised frequency, non-overlapping windows"),
            ("lo", "bucket_realised_low", "1", f"lower end of its {pct} Wilson interval"),
            ("hi", "bucket_realised_high", "1", f"upper end of its {pct} Wilson interval")):
        ds[name] = (d, out[key], {"units": units, "long_name": name.replace("_", " ") if not ln else ln})


def _fitted_vars(ds, fitted, models):
    nc = len(fitted[0])
    for name, units in (("mu", "1/yr"), ("sigma", "1/sqrt(yr)")):
        arr = np.array([[[f[c].get((name, m), math.nan) for c in range(nc)] for m in models] for f in fitted])
        ds[f"fitted_{name}"] = (("start",) + MC, arr, {
            "units": units, "long_name": f"calibrated {name} (maximum likelihood on the look-back, before any "
                                         "robust factor)"})
    ds["volatility_factor"] = (("start", "calibration"), np.array(
        [[f[c][("volatility_factor", None)] for c in range(nc)] for f in fitted]), {
        "units": "1", "long_name": "factor on the scale of log returns of the calibration choice (stress weight, "
                                   "floor, buffer; 1 = none)"})
    extra = [("jump_intensity", "merton", "1/yr"), ("jump_mean", "merton", "log"), ("jump_std", "merton", "log")]
    extra += [(f"{x}_{k}", None, u) for x in ("funding", "basis") for k, u in (
        ("mean", "per interval" if x == "funding" else "fraction"), ("half_life_hours", "h"),
        ("stationary_std", "per interval" if x == "funding" else "fraction"), ("corr_price", "1"))]
    for name, m, units in extra:
        if (name, m) in fitted[0][0]:
            ds[f"fitted_{name}"] = (("start", "calibration"), np.array(
                [[f[c][(name, m)] for c in range(nc)] for f in fitted]), {
                "units": units, "long_name": f"calibrated {name.replace('_', ' ')} (look-back)"})


def assemble(cfg, prices, funding, kept, rows, pred, fitted, outcomes, models, choices, window_s, step_s, paths,
             seed, drift, *, block, replicates, bootstrap_seed) -> xr.Dataset:
    """The backtest Dataset from the walk-forward loop's rows (module docstring).
    ``outcomes``: (window starts, ends, liquidated) of every replayed grid window."""
    ds = assemble_windows(cfg, rows, kept, prices, funding, window_s)
    ds.attrs["title"] = "hedgesim walk-forward backtest"
    ds = ds.assign_coords(
        model=("model", list(models)), portfolio=("portfolio", list(PORTFOLIOS)),
        calibration=("calibration", [c.label for c in choices], {
            "long_name": "calibration choice: look-back [+ stress_weight, vol_floor, vol_buffer]"}),
        level=("level", np.array(LEVELS), {"units": "1", "long_name": "confidence level of VaR / ES"}))
    p, var = _forecasts(ds, pred, models, choices)
    keep = non_overlapping(pd.DatetimeIndex(kept), pd.Timedelta(seconds=window_s))
    ds["non_overlapping"] = ("start", keep, {"units": "1", "long_name": "window in the non-overlapping subset "
                                             "used for the Kupiec and Christoffersen tests and the buckets' intervals"})
    _var_tests(ds, var, keep)
    y = ds["liquidated"].values.astype(float)
    starts = pd.DatetimeIndex(kept).tz_convert(None).values
    base = np.full((len(kept), len(choices)), np.nan)
    nbase = np.zeros((len(kept), len(choices)))
    for c, ch in enumerate(choices):
        base[:, c], nbase[:, c] = base_rate_forecasts(starts, *outcomes, ch.window_s)
    ds["base_rate_forecast"] = (("start", "calibration"), base, {
        "units": "1", "long_name": "realised liquidation frequency of the windows inside the look-back that ended "
                                   "by the start (the base rate known then)"})
    ds["base_rate_windows"] = (("start", "calibration"), nbase, {"units": "windows", "long_name": "how many"})
    bsb = [brier_score(base[np.isfinite(base[:, c]), c], y[np.isfinite(base[:, c])]) for c in range(len(choices))]
    ds["brier_score_base_rate"] = ("calibration", np.array(bsb), {
        "units": "1", "long_name": "Brier score of the base-rate forecast (starts where it is defined)"})
    ds["log_score_base_rate"] = ("calibration", np.array([
        float(np.mean(log_losses(base[np.isfinite(base[:, c]), c], y[np.isfinite(base[:, c])])))
        if np.isfinite(base[:, c]).any() else math.nan for c in range(len(choices))]), {
        "units": "nats", "long_name": "log score of the base-rate forecast (starts where it is defined)"})
    ds["base_rate_starts"] = ("calibration", np.isfinite(base).sum(axis=0), {
        "units": "windows", "long_name": "starts at which the base rate is defined"})
    idx_rs = resample_indices(len(kept), block, replicates, bootstrap_seed)
    _scores(ds, p, y, keep, base, method_labels(models, choices), idx_rs)
    _buckets(ds, p, y, keep)
    _fitted_vars(ds, fitted, models)
    ds.attrs.update({
        "hedgesim_version": __version__,
        "window": format_duration(window_s), "step": format_duration(step_s),
        "calibration_window": ",".join(c.label for c in choices), "paths_per_forecast": int(paths), "seed": int(seed),
        "drift": drift, "models": ",".join(models), "levels": ",".join(f"{x:g}" for x in LEVELS),
        "non_overlapping_windows": int(keep.sum()),
        "log_score_clip": LOG_CLIP, "bootstrap_block": int(min(block, len(kept))),
        "bootstrap_replicates": int(replicates), "bootstrap_seed": int(bootstrap_seed),
        "note": "VaR/ES: positive numbers are losses of PnL over the window in USD; exceptions count windows whose "
                "realised loss exceeded the predicted VaR; the tests use the non-overlapping windows only",
    })
    if len(choices) == 1:
        ds = ds.squeeze("calibration")  # the dims of a single choice are those of earlier versions
    return ds
