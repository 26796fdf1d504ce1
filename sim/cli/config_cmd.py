"""``hedgesim config RESULT``: print the TOML config that reproduces a saved result
(docs/outputs.md): ``hedgesim config r.zarr > again.toml; hedgesim run again.toml``."""

from __future__ import annotations

import sys

from sim.errors import ResultFileError
from sim.results import io
from sim.results.config_toml import config_differences, result_config, result_toml


def add_parser(sub) -> None:
    c = sub.add_parser("config", help="print the TOML config that reproduces a saved result")
    c.add_argument("result", help="a .zarr or .nc file written by hedgesim")


def cmd(args) -> int:
    ds = io.read(args.result, lazy=True)  # only the attributes are needed
    try:
        text = result_toml(ds, args.result)
        changed = config_differences(ds, result_config(ds))
    except ResultFileError as exc:
        raise ResultFileError(f"result {args.result!r}: {exc}") from None
    if changed:
        print(f"hedgesim: note: with this hedgesim, {', '.join(changed)} resolve to other values than when the "
              "result was written (a preset or default changed)", file=sys.stderr)
    sys.stdout.write(text)
    return 0
