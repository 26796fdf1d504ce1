"""hedgesim: Monte Carlo risk of holding BTC hedged with a short inverse perpetual.

    import sim
    cfg = sim.load_config("configs/default.toml", overrides={"market.sigma": 1.2})
    ds = sim.run(cfg, paths=100_000, seed=1)     # -> xarray.Dataset (docs/outputs.md)
"""

from __future__ import annotations

from sim.api import run
from sim.config import Config, load_config
from sim.errors import ConfigError, ResultFileError
from sim.results.io import read as open_result, write as write_result
from sim.version import __version__

__all__ = ["Config", "ConfigError", "ResultFileError", "load_config", "run", "open_result", "write_result",
           "__version__"]
