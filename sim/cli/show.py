"""``hedgesim show RESULT [--format text|json|csv]``: the table of a saved result, of every
kind hedgesim writes (run, sweep, convergence and adaptive runs, margin curve, frontier,
stress table, replay, backtest; docs/outputs.md), or its summary as machine-readable data
(sim.report.machine; docs/run.md). A file that is not one of them, or lacks what its
table needs, is one line and exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sim.errors import ResultFileError, UsageError
from sim.results import io

FORMATS = ("text", "json", "csv")


def add_parser(sub) -> None:
    s = sub.add_parser("show", help="print the summary of a saved result (a table, or JSON / CSV)")
    s.add_argument("result", help="a .zarr or .nc file written by hedgesim (run, margin, stress, replay, backtest)")
    s.add_argument("--format", choices=FORMATS, default="text",
                   help="text: the table the command printed (default); json: one object of the summary values "
                        "with units; csv: one row per variant / scenario / window, units in the header")


def adaptive_line(ds) -> list[str]:
    """The line ``hedgesim run --target-se`` prints under its table (none for other runs)."""
    if not ds.attrs.get("adaptive"):
        return []
    a = json.loads(ds.attrs["adaptive"])
    return [f"adaptive run: {a['stopped']} after {a['paths']:,} paths (target SE {a['target_se']}, "
            f"budget {a['max_paths']:,} paths)"]


def result_text(ds) -> str:
    """The table of any result, as the command that wrote it printed it."""
    from sim.report.text import format_convergence, format_result
    from sim.results.kinds import kind_of

    text = [format_result(ds)]
    if kind_of(ds) == "run":
        if "n_paths" in ds.dims:
            text.append(format_convergence(ds))
        text += adaptive_line(ds)
    return "\n".join(text)


def cmd(args) -> int:
    from sim.results.kinds import kind_of

    suffix = Path(args.result).suffix
    if suffix not in io.SUFFIXES:
        raise UsageError(f'result {args.result!r}: unknown format "{suffix}"; hedgesim show reads the '
                         '".zarr" or ".nc" files written by hedgesim')
    ds = io.read(args.result)
    kind = kind_of(ds)
    if kind == "other":
        raise ResultFileError(f"result {args.result!r}: not a result hedgesim can show (none of the variables of a "
                              "run, margin curve, frontier, stress table, replay or backtest)")
    try:
        if args.format == "json":
            from sim.report.machine import to_json

            text = to_json(ds, args.result)
        elif args.format == "csv":
            from sim.report.machine import to_csv

            text = to_csv(ds)
        else:
            text = result_text(ds) + "\n"
    except (KeyError, IndexError, ValueError, TypeError) as exc:  # a variable or attribute missing or malformed
        what = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ResultFileError(f"result {args.result!r}: cannot be shown as a {kind} result ({type(exc).__name__}: "
                              f"{what}); written by another hedgesim version?") from None
    sys.stdout.write(text)
    return 0
