"""The engine: a validated config -> kernel arguments -> chunks of paths -> per-path arrays.

* ``simulate``: one run (every hedge variant of a sweep on the same market paths),
  importance tilt, chunking and progress.
* ``hedge``: the resolved hedge of each variant and the kernel's account rows.
* ``replay``: one given market path (stress or historical replay) through the kernel's
  account code.
* ``adaptive``: runs that add paths until a standard error is reached.
"""

from sim.engine.simulate import (  # noqa: F401
    DEFAULT_CHUNK_BLOCKS, MARKET_SECTIONS, Hedge, RawRun, account_args, allocate_outputs, importance_tilt,
    market_args, replay, resolve_hedge, simulate, variants,
)
