"""The numba kernel: plain arrays in, per-path statistics out (no paths x steps storage).

* ``args``: the argument and output tuples the kernel reads and writes.
* ``market_pass``: one market path (index, mark, checked mark, funding) per call; where a
  price model produces its step's moves.
* ``account_pass``: one hedge account along a market path; where margin policies act.
* ``driver``: blocks of paths in parallel, and the one-path replay entry point.
* ``rng``: the random streams (seeded per block of paths and per stream).
"""

from sim.kernel.args import AccountArgs, MarketArgs, PathOutputs  # noqa: F401
from sim.kernel.driver import replay_accounts, simulate_chunk  # noqa: F401
