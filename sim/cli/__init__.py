"""Command line: ``hedgesim run | margin | stress | show | report | calibrate | replay | backtest``."""

from sim.cli.main import main  # noqa: F401
