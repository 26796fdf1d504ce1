"""Per-path arrays -> xarray Dataset, its summary statistics, estimators and result files.

* ``dataset``: assembly of the per-path Dataset of a run (``build_dataset``).
* ``summary``: the summary variables computed from the per-path ones (``summarize``).
* ``stats``: the estimators (proportions, VaR/ES with standard errors, weighted versions).
* ``streamed``: the same summary computed shard by shard (distributed runs).
* ``kinds``: which kind of result a Dataset is (run, margin curve, stress table, replay,
  backtest), and the sweep dimensions of a run.
* ``io``: writing and reading result files (``read(path, lazy=True)`` for large stores),
  format v1 (docs/outputs.md, "Result files"), with its parts: ``meta`` (the attributes
  of every result kind), ``encoding`` (chunks, checksum filters), ``marker``
  (``hedgesim.json``: ownership, file list, integrity checks), ``checked`` (damage read
  lazily is an error naming the variable), ``lock`` (the output lock, the sweep of
  temporaries); ``config_toml`` (the TOML that reproduces a result).
"""

from sim.results.dataset import PER_PATH, build_dataset, config_of  # noqa: F401
from sim.results.summary import LEVELS, PORTFOLIOS, QUANTILES, SUMMARY_VARS, summarize  # noqa: F401
