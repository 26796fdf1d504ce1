"""Real market data: loading, calibration, historical replay and out-of-sample backtest.

    from sim.data import load_prices, load_funding, calibrate
    px = load_prices("data/btc_usd_1h_cryptocompare_2021H1.csv.gz")
    fu = load_funding("data/bybit_btcusd_inverse_8h_2021H1.csv")
    cal = calibrate(px, fu, start="2021-01-01", end="2021-06-30")
    print(cal.to_toml("merton"))

* ``load``: price and funding CSVs in any layout of the project's data folder (detected
  from the header, or mapped explicitly) -> UTC-indexed pandas structures; sorted,
  de-duplicated, gaps reported (never filled), a possibly partial last bar dropped.
* ``calibrate``: maximum likelihood (GBM, Merton, funding OU, basis OU) with standard
  errors from the observed information.
* ``replay``: the hedge account of a config along the realised path (liquidation checked
  on each bar's high), one window or rolling windows.
* ``backtest``: walk-forward calibrate -> simulate -> replay, with Brier score, VaR
  exceptions, Kupiec and Christoffersen tests.
"""

from __future__ import annotations

from sim.data.load import DataError, FundingData, PriceData, load_funding, load_prices  # noqa: F401
from sim.data.calibrate import Calibration, calibrate  # noqa: F401  (after the submodule: the name is the function)

__all__ = ["DataError", "PriceData", "FundingData", "load_prices", "load_funding", "Calibration", "calibrate"]
