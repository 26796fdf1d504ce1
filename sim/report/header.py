"""Lines every printed table shares under its first line: the ``--set`` / ``--sweep``
options the result was made with (attrs ``overrides`` / ``sweep_overrides``,
sim.results.meta), so a table never hides that it is not the config as written."""

from __future__ import annotations

from sim.results.meta import overrides_of


def override_lines(attrs: dict) -> list[str]:
    """``["overrides: market.sigma=1.2, position.collateral=0.5", "sweep: ..."]``; [] when
    the result was made without ``--set`` / ``--sweep``."""
    given = overrides_of(attrs)
    lines = []
    if given["set"]:
        lines.append("overrides: " + ", ".join(given["set"]))
    if given["sweep"]:
        lines.append("sweep: " + "; ".join(given["sweep"]))
    return lines
