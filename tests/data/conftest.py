"""Fixtures of the data tests: the shipped 2021 H1 sample (hourly BTC closes and Bybit's
8-hourly funding and basis) and the perturbation the no-look-ahead tests apply to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.data import load_funding, load_prices

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data():
    """(prices, funding) of the shipped 2021 H1 sample."""
    return (load_prices(ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz", log=None),
            load_funding(ROOT / "data" / "bybit_btcusd_inverse_8h_spot_perp_funding_2021H1.csv", log=None))


@pytest.fixture
def changed_after():
    """``changed_after(px, fu, start)``: copies of the data with every price after ``start``
    raised by half and every later funding rate set to 0.2 %: what a forecast made at
    ``start`` must not see."""

    def change(px, fu, start):
        bars = px.bars.copy()
        bars.loc[px.bars.index > start, ["open", "high", "low", "close"]] *= 1.5
        rate = fu.rate.copy()
        rate[rate.index > start] = 0.002
        return (type(px)(bars, px.bar, px.source, px.layout, px.gaps),
                type(fu)(rate, fu.spacing, fu.source, fu.layout, fu.gaps, fu.spot, fu.perp))

    return change
