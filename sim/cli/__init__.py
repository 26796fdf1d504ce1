"""Command line: ``hedgesim run | margin | stress | show | report | calibrate | replay | backtest``.

One module per subcommand (``add_parser`` and ``cmd``); ``common`` holds what they share,
``main`` assembles the parser and maps errors to exit statuses.
"""

from sim.cli.main import main  # noqa: F401
