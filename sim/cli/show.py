"""``hedgesim show RESULT``: the table of a saved result (run, margin curve or stress table;
docs/outputs.md)."""

from __future__ import annotations

from pathlib import Path

from sim.errors import UsageError
from sim.results import io


def add_parser(sub) -> None:
    s = sub.add_parser("show", help="print the summary of a saved result")
    s.add_argument("result", help="a .zarr or .nc file written by hedgesim run")


def cmd(args) -> int:
    from sim.report.text import format_result

    suffix = Path(args.result).suffix
    if suffix not in io.SUFFIXES:
        raise UsageError(f'result {args.result!r}: unknown format "{suffix}"; hedgesim show reads the '
                         '".zarr" or ".nc" files written by hedgesim run')
    print(format_result(io.read(args.result)))
    return 0
