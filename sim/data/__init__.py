"""Real market data: loading, calibration, historical replay and out-of-sample backtest.

    from sim.data import load_prices, load_funding, calibrate
    from sim.data.calibrate import to_toml
    px = load_prices("data/btc_usd_1h_cryptocompare_2021H1.csv.gz")
    fu = load_funding("data/bybit_btcusd_inverse_8h_2021H1.csv")
    cal = calibrate(px, fu, start="2021-01-01", end="2021-06-30")
    print(to_toml(cal, "merton"))

Loading (docs/data.md):

* ``layouts``: the CSV layouts of the project's data folder, detected from the header,
  explicit column mappings, and the columns of a ``[[stress]]`` replay file;
* ``table``: one CSV -> UTC times and numbers; sorting, de-duplication, bar-end times,
  the possibly partial last bar, gaps (reported, never filled), OHLC repairs;
* ``load``: price and funding series (``PriceData``, ``FundingData``; several files
  spliced), ``asof`` look-ups without look-ahead, the price path of a stress replay;
* ``times``: UTC conversion and the time texts of the diagnostics.

Calibration: ``calibrate`` (the ``Calibration`` and its config fragment) over
``fit_price`` (GBM, Merton), ``fit_ou`` (funding and basis OU) and ``mle`` (optimiser,
standard errors from the observed information, KS statistic).

Not imported here (they run the engine): ``replay``, the hedge account of a config along
the realised path (liquidation checked on each bar's high), one window or rolling
windows; ``backtest``, walk-forward calibrate -> simulate -> replay, with Brier score,
VaR exceptions, Kupiec and Christoffersen tests. Their printed summaries are in
``sim.report.text_data``.
"""

from __future__ import annotations

from sim.errors import DataError  # noqa: F401
from sim.data.load import FundingData, PriceData, load_funding, load_prices  # noqa: F401
from sim.data.calibrate import Calibration, calibrate  # noqa: F401  (after the submodule: the name is the function)

__all__ = ["DataError", "PriceData", "FundingData", "load_prices", "load_funding", "Calibration", "calibrate"]
