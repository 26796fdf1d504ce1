"""Results written before format v1 (variables ``var``/``es``, coordinate ``quantile``,
which shadow Dataset methods) open with today's names."""

import warnings

import numpy as np
import xarray as xr

import sim


def test_pre_v1_names_are_upgraded_on_read(tmp_path):
    levels = np.array([0.95, 0.99])
    old = xr.Dataset(
        {"var": (("portfolio", "level"), np.ones((2, 2))), "es": (("portfolio", "level"), 2 * np.ones((2, 2))),
         "var_se": (("portfolio", "level"), np.zeros((2, 2))), "es_se": (("portfolio", "level"), np.zeros((2, 2))),
         "pnl_quantile": (("portfolio", "quantile"), np.arange(6.0).reshape(2, 3))},
        coords={"portfolio": ["hedged", "unhedged"], "level": levels, "quantile": [0.05, 0.5, 0.95]})
    path = tmp_path / "old.nc"
    old.to_netcdf(path)
    ds = sim.open_result(path)
    assert {"value_at_risk", "expected_shortfall", "value_at_risk_se", "expected_shortfall_se"} <= set(ds.data_vars)
    assert "var" not in ds.variables and "es" not in ds.variables
    assert ds.pnl_quantile.sel(quantile_level=0.5, portfolio="unhedged").item() == 4.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds.value_at_risk.sel(portfolio="hedged", level=0.99).item() == 1.0  # attribute access works
