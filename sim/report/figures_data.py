"""The figures of ``hedgesim report`` for a walk-forward backtest (docs/validation.md):

- ``reliability.png``: predicted against realised liquidation frequency per bucket of
  predicted probability, over the non-overlapping windows, with each bucket's 95 % Wilson
  interval; one line per method (model x calibration choice), the diagonal is perfect
  calibration;
- ``forecasts.png``: the predicted liquidation probability of each method at every start,
  the liquidated windows marked, and the base rate known at each start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from sim.report.figures import Figure, plt_setup, png_bytes

FIGURE_NAMES = {"reliability", "forecasts"}
DPI = 110
MAX_LINES = 10  # methods drawn (the first ones; the table lists them all)


def methods(ds: xr.Dataset) -> list[tuple[str, dict]]:
    """(label, selection) of each method: {"model": m[, "calibration": c]}."""
    if "method" not in ds.coords:
        return [(str(m), {"model": m}) for m in ds["model"].values]
    cal = "calibration" in ds.dims
    return [(str(lab), {"model": m, **({"calibration": c} if cal else {})})
            for lab, m, c in zip(ds["method"].values, ds["method_model"].values, ds["method_calibration"].values)]


def fig_reliability(ds: xr.Dataset) -> Figure:
    plt = plt_setup()
    fig, ax = plt.subplots(figsize=(7.2, 5.6))
    ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls="--", label="perfect calibration")
    ms = methods(ds)[:MAX_LINES]
    has_ci = "bucket_realised_low" in ds
    xmax = 0.05
    for i, (lab, sel) in enumerate(ms):
        sfx = "_non_overlapping" if has_ci else ""
        x = ds[f"bucket_predicted{sfx}"].sel(sel).values
        y = ds[f"bucket_realised{sfx}"].sel(sel).values
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            continue
        off = (i - (len(ms) - 1) / 2) * 0.002  # a small shift so that the intervals do not hide each other
        if has_ci:
            lo, hi = ds["bucket_realised_low"].sel(sel).values, ds["bucket_realised_high"].sel(sel).values
            ax.errorbar(x[ok] + off, y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], marker="o", ms=4, capsize=3,
                        lw=1.2, label=lab)
            xmax = max(xmax, float(np.nanmax(hi[ok])), float(np.nanmax(x[ok])))
        else:
            ax.plot(x[ok], y[ok], marker="o", label=lab)
            xmax = max(xmax, float(np.nanmax(y[ok])), float(np.nanmax(x[ok])))
    lim = min(1.0, xmax * 1.08)
    ax.set_xlim(0, lim)
    ax.set_ylim(0, lim)
    ax.set_xlabel("mean predicted liquidation probability in the bucket")
    ax.set_ylabel("realised liquidation frequency")
    nk = int(ds["non_overlapping"].values.sum())
    ax.set_title(f"Reliability: {nk} non-overlapping windows of {ds.attrs.get('window', '')}")
    ax.legend(loc="upper left")
    return Figure("reliability", "Reliability of the liquidation forecasts",
                  "Each point is a bucket of predicted probability (" + ", ".join(str(b) for b in ds["bucket"].values)
                  + "): the mean forecast in it against the share of its windows that were liquidated, over the "
                  "non-overlapping windows (independent outcomes), with the 95 % Wilson interval of that share. "
                  "Points above the diagonal are windows liquidated more often than forecast. Few windows per bucket "
                  "give wide intervals: read the figure with the Brier table's intervals.", png_bytes(fig))


def fig_forecasts(ds: xr.Dataset) -> Figure:
    plt = plt_setup()
    fig, ax = plt.subplots(figsize=(9.5, 4.6))
    t = pd.DatetimeIndex(ds["start"].values)
    for lab, sel in methods(ds)[:MAX_LINES]:
        ax.plot(t, ds["predicted_liquidation_probability"].sel(sel).values, lw=1.1, label=lab)
    if "base_rate_forecast" in ds:
        b = ds["base_rate_forecast"]
        if "calibration" in b.dims:
            b = b.isel(calibration=0)
        ax.plot(t, b.values, color="0.35", lw=1.2, ls=":", label="base rate known at the start")
    liq = ds["liquidated"].values.astype(bool)
    if liq.any():
        ax.scatter(t[liq], np.full(int(liq.sum()), -0.02), marker="|", s=60, color="crimson",
                   label="window liquidated", clip_on=False)
    ax.set_ylim(bottom=-0.04)
    ax.set_xlabel("window start (UTC)")
    ax.set_ylabel("predicted liquidation probability")
    ax.set_title(f"Forecasts at each start: windows of {ds.attrs.get('window', '')} every {ds.attrs.get('step', '')}")
    ax.legend(loc="upper left", ncol=2)
    return Figure("forecasts", "Liquidation forecasts over time",
                  "The probability each method gave at each start that the hedge would be liquidated within the "
                  "window, the base rate known then (the liquidated share of the windows that had ended), and the "
                  "windows that were liquidated (marks at the bottom).", png_bytes(fig))


def figures(ds: xr.Dataset) -> tuple[list[Figure], list[str]]:
    notes = []
    if len(methods(ds)) > MAX_LINES:
        notes.append(f"figures: the first {MAX_LINES} methods are drawn; the table lists them all")
    return [fig_reliability(ds), fig_forecasts(ds)], notes
