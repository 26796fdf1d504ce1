"""Dask worker preload for the local cluster of ``hedgesim run --workers N``.

Ctrl-C in a terminal reaches every process of the foreground group, worker processes
included; they ignore it and are stopped by the client instead (which closes the cluster
after cancelling the shards), so an interrupt prints one line, not a traceback per worker.
"""

from __future__ import annotations

import signal


def dask_setup(worker) -> None:  # noqa: ARG001 - dask's preload hook
    signal.signal(signal.SIGINT, signal.SIG_IGN)
