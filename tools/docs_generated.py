"""Reference tables of the docs generated from the code, between markers.

    python -m tools.docs_generated            # rewrite every generated block (make docs-generate)
    python -m tools.docs_generated --check    # fail with a diff when one is stale

A generated block sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in a
Markdown file; ``BLOCKS`` lists each with the function that writes it:

- ``docs/configuration.md`` ``config-reference``: every config key, from the schema
  (``python -m sim.config.reference``);
- ``docs/outputs.md`` ``outputs-per-path``: the per-path variables, from
  ``sim.results.dataset.PER_PATH`` (which takes the managed-hedge rows from
  ``sim.kernel.args.POLICY_OUTPUTS``);
- ``docs/outputs.md`` ``outputs-summary``: every variable without a ``path`` dimension,
  read off small runs of ``sim.run`` (a plain run with ``value_threshold``, a sweep, a
  managed hedge), so names, dimensions, units and meanings are the ones a result carries;
- ``docs/cli.md`` ``cli-reference``: ``--help`` of ``hedgesim`` and of every subcommand,
  from the argparse parser (at 100 columns).

tests/test_docs_generated.py asserts that every block equals what its function writes.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ---- config ---------------------------------------------------------------------------------

def config_reference() -> str:
    from sim.config.reference import markdown
    return markdown()


# ---- outputs --------------------------------------------------------------------------------

def _units(u: str) -> str:
    return {"{m}": "margin", "1": "1"}.get(u, u)


def outputs_per_path() -> str:
    from sim.kernel.args import POLICY_OUTPUTS
    from sim.results.dataset import PER_PATH
    policy = {name for name, _, _ in POLICY_OUTPUTS}
    when = {"weight": "with importance sampling (`simulation.importance`)"}
    rows = ["| variable | units | meaning | present |", "|---|---|---|---|"]
    for name, (units, long_name) in PER_PATH.items():
        present = ("with a `[policy]`, a wallet, a non-isolated margin mode or default risk "
                   "([managed hedges](policies.md#what-it-reports))") if name in policy else when.get(name, "always")
        rows.append(f"| `{name}` | {_cell(_units(units))} | {_cell(long_name)} | {present} |")
    return "\n".join(rows) + "\n"


_SUMMARY_RUNS = (
    # (label of the condition, overrides): each run adds the variables the ones before lacked
    ("always", {}),
    ("with `simulation.value_threshold`", {"simulation.value_threshold": 60000.0}),
    ("with a sweep", {"sweep": {"position.hedge_ratio": [0.5, 1.0]}}),
    ("with a `[policy]` or exchange risk", {"policy.top_up_reserve": 0.1, "policy.top_up_trigger": 3.0,
                                            "exchange.default_rate": 0.03}),
    ("with importance sampling", {"simulation.importance": "auto"}),
)


def _summary_datasets():
    import sim
    for label, over in _SUMMARY_RUNS:
        over = dict(over)
        sweep = over.pop("sweep", None)
        cfg = sim.load_config(None, overrides={"simulation.horizon": "2d", "simulation.paths": 2048, **over})
        if sweep:
            cfg = cfg.with_sweep(sweep)
        yield label, sim.run(cfg, paths=2048, seed=1)


def outputs_summary() -> str:
    seen: dict[str, tuple] = {}
    sweep_dims: set[str] = set()
    for label, ds in _summary_datasets():
        if label == "with a sweep":
            sweep_dims = {d for d in ds.dims if d in ds.coords and str(ds[d].attrs.get("long_name", "")).startswith("swept")}
        m_unit = ds.attrs.get("margin_unit", "BTC")
        for name, var in ds.data_vars.items():
            if "path" in var.dims or name in seen or name.startswith("sample_"):
                continue
            dims = [d for d in var.dims if d not in sweep_dims]
            extra = ", sweep dims" if set(var.dims) & sweep_dims and name.endswith(("_vs_base", "_vs_base_se")) else ""
            units = var.attrs.get("units", "")
            units = "margin" if units == m_unit and m_unit == "BTC" else units
            ln = str(var.attrs.get("long_name", "")).replace("60,000.00 USD", "`simulation.value_threshold`")
            seen[name] = ((", ".join(dims + ["sweep dims"] if extra else dims)) or "—", units, ln, label)
    rows = ["| variable | dims | units | meaning | present |", "|---|---|---|---|---|"]
    for name, (dims, units, ln, label) in seen.items():
        rows.append(f"| `{name}` | {_cell(dims)} | {_cell(units)} | {_cell(ln)} | {label} |")
    return "\n".join(rows) + "\n"


# ---- CLI ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _columns(n: int):
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def cli_reference() -> str:
    from sim.cli.main import build_parser
    out = []
    with _columns(100):
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sections = [("hedgesim", parser)] + [(f"hedgesim {name}", p) for name, p in sub.choices.items()]
        for title, p in sections:
            out += [f"## `{title}`", "", "```text", p.format_help().rstrip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


# ---- blocks ---------------------------------------------------------------------------------

BLOCKS = (
    ("docs/configuration.md", "config-reference", config_reference),
    ("docs/outputs.md", "outputs-per-path", outputs_per_path),
    ("docs/outputs.md", "outputs-summary", outputs_summary),
    ("docs/cli.md", "cli-reference", cli_reference),
)


def split(text: str, name: str, where: str) -> tuple[str, str, str]:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"{where}: markers <!-- {name}:start/end --> not found")
    a = text.index(start) + len(start)
    b = text.index(end)
    return text[:a], text[a:b], text[b:]


def stale(root: Path = ROOT) -> list[str]:
    """A diff for every generated block that differs from what the code writes."""
    out = []
    for rel, name, fn in BLOCKS:
        _, block, _ = split((root / rel).read_text(encoding="utf-8"), name, rel)
        want = fn()
        if block != want:
            diff = "\n".join(difflib.unified_diff(block.splitlines(), want.splitlines(), f"{rel} ({name})",
                                                  "generated from the code", lineterm=""))
            out.append(diff)
    return out


def write(root: Path = ROOT) -> int:
    n = 0
    for rel, name, fn in BLOCKS:
        path = root / rel
        head, block, tail = split(path.read_text(encoding="utf-8"), name, rel)
        want = fn()
        if block != want:
            path.write_text(head + want + tail, encoding="utf-8")
            n += 1
            print(f"rewrote {rel} ({name})")
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.docs_generated", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="fail with a diff when a generated block is stale")
    a = p.parse_args(argv)
    if a.check:
        diffs = stale()
        if diffs:
            print("\n\n".join(diffs), file=sys.stderr)
            print("generated docs are stale: run `make docs-generate`", file=sys.stderr)
            return 1
        print("generated docs blocks are current")
        return 0
    print(f"{write()} generated block(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
