"""SIGINT / SIGTERM held over the write of a result (sim.results.io.write).

zarr writes chunks from its own thread: an interrupt raised in the main thread in the
middle of ``to_zarr`` removes the temporary while that thread still writes into it (and
recreates it). So a write finishes first: ``held(path)`` records the first SIGINT or
SIGTERM that arrives within it (with a note on stderr), and when the block has ended
delivers it to the handler that was there before. If the block completed (the result is
in place), the interrupt becomes ``InterruptedAfterWrite`` (the CLI: a note and exit
status 0; sim.errors); if it failed, the interrupt propagates as it is (its cleanup has
run). A second signal abandons the write at once (its temporary is then swept at the
next write, sim.results.lock). Outside the main thread, signals are left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from sim.errors import InterruptedAfterWrite

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _deliver(signum: int, previous, frame=None) -> None:
    """Run what ``previous`` (a handler, SIG_DFL or SIG_IGN) does for ``signum``."""
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # terminates the process, as it would have without us


@contextlib.contextmanager
def held(path):
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    got: list[int] = []

    def handler(signum, frame):
        got.append(signum)
        if len(got) > 1:  # a second interrupt: abandon the write
            for s, h in previous.items():
                signal.signal(s, h)
            _deliver(signum, previous[signum], frame)
            return
        print(f"hedgesim: note: {signal.Signals(signum).name} while {str(path)!r} is written; finishing the "
              "write (send it again to abandon it)", file=sys.stderr)

    for s in SIGNALS:
        if previous[s] is not signal.SIG_IGN and previous[s] is not None:
            signal.signal(s, handler)
    completed = False
    try:
        yield
        completed = True
    finally:
        for s, h in previous.items():
            if h is not None:
                signal.signal(s, h)
        if len(got) == 1:
            if not completed:
                _deliver(got[0], previous[got[0]])
            else:
                try:
                    _deliver(got[0], previous[got[0]])
                except KeyboardInterrupt as exc:
                    raise InterruptedAfterWrite.after(exc, path) from None
