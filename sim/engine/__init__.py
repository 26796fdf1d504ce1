"""The engine: a validated config -> kernel arguments -> chunks of paths -> per-path arrays.

* ``hedge``: the resolved hedge of each variant and the kernel's account rows.
* ``simulate``: one run (every hedge variant of a sweep on the same market paths),
  chunking and progress; ``variants`` expands a sweep.
* ``importance``: the importance-sampling tilt of the price shocks.
* ``memory``: the peak memory of a run, estimated before allocating, against what the
  machine has (``check_memory``; ``simulate`` refuses a run that cannot fit).
* ``replay``: one given market path (stress or historical replay) through the kernel's
  account code.
"""

from sim.engine.hedge import Hedge, account_args, resolve_hedge  # noqa: F401
from sim.engine.importance import importance_tilt  # noqa: F401
from sim.engine.replay import replay, run_accounts  # noqa: F401
from sim.engine.simulate import (  # noqa: F401
    DEFAULT_CHUNK_BLOCKS, MARKET_SECTIONS, RawRun, allocate_outputs, check_memory, market_args, simulate, variants,
)
