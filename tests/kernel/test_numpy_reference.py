"""The numba kernel and the independent numpy reference (benchmarks/reference.py) agree
within a few standard errors on the same config (independent random numbers)."""

import numpy as np
import pytest

import sim
from benchmarks.reference import simulate_reference


@pytest.mark.parametrize("contract, collateral", [("inverse", 0.06), ("linear", 4_000.0)])
def test_kernel_agrees_with_numpy_reference(contract, collateral, small_default):
    over = {"position.contract": contract, "position.collateral": collateral}
    if contract == "linear":
        over["position.contract_size"] = 0.001
    cfg = small_default("5d", **over)
    n = 20_000
    ds = sim.run(cfg, paths=n, seed=4)
    ref = simulate_reference(cfg, n, 4)
    assert 0.05 < ds["liquidated"].values.mean() < 0.95  # a regime where liquidation matters
    for var in ["liquidated", "hedged_value", "funding", "fees", "required_collateral", "max_drawdown",
                "index_T", "mark_T"]:
        a = ds[var].values.astype(float)
        b = np.asarray(ref[var], dtype=float)
        se = np.sqrt(a.var() / n + b.var() / n)
        assert abs(a.mean() - b.mean()) <= 4 * se + 1e-12 * abs(b.mean()), (var, a.mean(), b.mean(), se)
    # liquidation times: same distribution (two-sample KS, 1 % level)
    from scipy.stats import ks_2samp

    ta = ds["liquidation_time"].values
    tb = ref["liquidation_time"]
    assert ks_2samp(ta[~np.isnan(ta)], tb[~np.isnan(tb)]).pvalue > 0.01
