"""Every exception hedgesim raises on purpose, in one place.

The CLI turns ``ConfigError`` (and its subclass ``DataError``), ``ResultFileError``,
``UsageError`` and ``DistributedError`` into one line on stderr and exit status 2;
``RunInterrupted`` into exit status 130. Anything else is a bug (status 1).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


class DataError(ConfigError):
    """A market-data file cannot be read, or its content is unusable (exit status 2)."""


class ResultFileError(OSError):
    """A result file cannot be written or read."""


class UsageError(Exception):
    """A command-line option or combination of options is invalid."""


class DistributedError(Exception):
    """A distributed run cannot start or go on (reported like invalid input, status 2)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a distributed run; the partial store is left for ``--resume``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
