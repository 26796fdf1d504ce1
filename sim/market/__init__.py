"""Market models: price dynamics (GBM, Merton, Kou), funding and basis OU, stress arrays."""

from sim.market.params import MarketParams  # noqa: F401
