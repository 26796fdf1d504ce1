"""Per-path arrays -> xarray Dataset, its summary statistics, estimators and result files.

* ``dataset``: assembly of the per-path Dataset and the summary (``build_dataset``).
* ``stats``: the estimators (proportions, VaR/ES with standard errors, weighted versions).
* ``streamed``: the same summary computed shard by shard (distributed runs).
* ``io``: writing and reading result files.
"""

from sim.results.dataset import (  # noqa: F401
    LEVELS, PER_PATH, PORTFOLIOS, QUANTILES, SUMMARY_VARS, build_dataset, config_of, summarize,
)
