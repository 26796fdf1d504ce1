"""Command line: ``hedgesim run | margin | stress | show | report | config | calibrate | replay |
backtest | completion`` and ``hedgesim --version``.

Exit status: 0 success, 2 invalid input (config, option, file), 1 unexpected error,
130 interrupted by SIGINT (Ctrl-C) and 143 by SIGTERM, both only when nothing was written:
a signal that arrives once the output is complete (``InterruptedAfterWrite``, e.g. while
the table is printed) gives a note on stderr and status 0. SIGTERM raises ``Terminated``
(a ``KeyboardInterrupt``), so every cleanup written for Ctrl-C (temporaries removed) runs
for it too. Progress goes to stderr, tables to stdout.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from sim.cli import common, completion, config_cmd, margin, report, run, show, stress
from sim.cli.data_args import add_parsers as add_data_parsers
from sim.errors import ConfigError, InterruptedAfterWrite, ResultFileError, Terminated, UsageError
from sim.results.meta import version

COMMANDS = {"run": run, "margin": margin, "stress": stress, "show": show, "report": report, "config": config_cmd,
            "completion": completion}
DATA_COMMANDS = {"calibrate": "calibrate_cmd", "replay": "replay_cmd", "backtest": "backtest_cmd"}  # sim.cli.data


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hedgesim", description="Monte Carlo risk of a BTC stack hedged with a short "
                                "inverse (or linear) perpetual.")
    p.add_argument("--version", action="version", version=f"hedgesim {version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    add_data_parsers(sub)  # calibrate | replay | backtest (sim.data)
    return p


def _dispatch(args) -> int:
    with common.session(args):  # the command line for the results' attrs; output locks released at the end
        if args.command in COMMANDS:
            status = COMMANDS[args.command].cmd(args)
        else:
            from sim.cli import data  # pandas and the market-data readers: only for these commands

            status = getattr(data, DATA_COMMANDS[args.command])(args)
        # the command has ended: a signal from now on (e.g. while the session closes) is only
        # noted. A flag, not a call: Python runs a pending handler at its next call, which
        # must come after this
        _state["ended"] = True
        return status


STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
# what an interrupted command leaves: nothing of it (sim.results.io and sim.report.folder remove
# their temporaries on KeyboardInterrupt, Terminated included)
LEFT = {"report": "the report folder is as it was", "show": "", "calibrate": "", "config": "", "completion": ""}


_received: list[int] = []  # the signals of the current command (a distributed run returns 130 for both)
_state = {"ended": False}  # the command has returned its status: later signals are only noted


def _interrupt(signum, frame):
    """SIGINT: ``KeyboardInterrupt``, as Python's own handler, until the command has ended."""
    _received.append(signum)
    if not _state["ended"]:
        raise KeyboardInterrupt


def _terminate(signum, frame):
    """SIGTERM: ``Terminated`` (a ``KeyboardInterrupt``), until the command has ended."""
    _received.append(signum)
    if not _state["ended"]:
        raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """``hedgesim ARGS`` (``argv``: in-process, e.g. tests; None: the process's own
    command line, whose late signals are then ignored so the status decided here is the
    one the shell sees)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.parser = parser  # hedgesim completion writes its script from it
    args.argv = sys.argv[1:] if argv is None else [str(a) for a in argv]  # recorded in results (attr command)
    own = threading.current_thread() is threading.main_thread()
    _received.clear()
    _state["ended"] = False
    previous = {s: signal.getsignal(s) for s in STATUS} if own else {}
    if own:
        signal.signal(signal.SIGTERM, _terminate)
        if previous[signal.SIGINT] is signal.default_int_handler:  # not when SIGINT is ignored (e.g. `&`)
            signal.signal(signal.SIGINT, _interrupt)
    try:
        status = _run(args)
    except KeyboardInterrupt as exc:  # a second signal while the first one was being handled
        status = STATUS[signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT]
    finally:
        if own:
            for s, handler in previous.items():
                if argv is None:  # the process ends with the status decided above
                    signal.signal(s, signal.SIG_IGN)
                elif handler is not None:
                    signal.signal(s, handler)
    return status


def _run(args) -> int:
    try:
        status = _dispatch(args)
        if status == STATUS[signal.SIGINT] and signal.SIGTERM in _received:
            return STATUS[signal.SIGTERM]
        return status
    except (ConfigError, ResultFileError, UsageError) as exc:
        print(f"hedgesim: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `hedgesim show r.zarr | head`
        sys.stderr.close()
        return 0
    except OSError as exc:  # a path the system refuses (name too long, permission, read-only, full disk)
        where = f"{str(exc.filename)[:80]!r}: " if exc.filename else ""
        print(f"hedgesim: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except InterruptedAfterWrite as exc:  # the output is complete: not a failure
        print(f"hedgesim: interrupted ({exc.signal}) after writing {exc.path!r}, which is complete", file=sys.stderr)
        return 0
    except KeyboardInterrupt as exc:
        sig = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        left = LEFT.get(args.command, "no result written")
        print(f"hedgesim: {'terminated' if sig == signal.SIGTERM else 'interrupted'}"
              f"{'; ' + left if left else ''}", file=sys.stderr)
        return STATUS[sig]


if __name__ == "__main__":
    sys.exit(main())
