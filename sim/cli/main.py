"""Command line: ``hedgesim run | margin | stress | show | report | calibrate | replay | backtest``.

Exit status: 0 success, 2 invalid input (config, option, file), 1 unexpected error,
130 interrupted. Progress goes to stderr, tables to stdout.
"""

from __future__ import annotations

import argparse
import sys

from sim.cli import margin, report, run, show, stress
from sim.cli.data_args import add_parsers as add_data_parsers
from sim.errors import ConfigError, ResultFileError, UsageError

COMMANDS = {"run": run, "margin": margin, "stress": stress, "show": show, "report": report}
DATA_COMMANDS = {"calibrate": "calibrate_cmd", "replay": "replay_cmd", "backtest": "backtest_cmd"}  # sim.cli.data


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hedgesim", description="Monte Carlo risk of a BTC stack hedged with a short "
                                "inverse (or linear) perpetual.")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    add_data_parsers(sub)  # calibrate | replay | backtest (sim.data)
    return p


def _dispatch(args) -> int:
    if args.command in COMMANDS:
        return COMMANDS[args.command].cmd(args)
    from sim.cli import data  # pandas and the market-data readers: only for these commands

    return getattr(data, DATA_COMMANDS[args.command])(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ConfigError, ResultFileError, UsageError) as exc:
        print(f"hedgesim: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `hedgesim show r.zarr | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("hedgesim: interrupted; no result written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
