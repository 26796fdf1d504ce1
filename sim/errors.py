"""Every exception hedgesim raises on purpose, in one place.

The CLI turns ``ConfigError`` (and its subclass ``DataError``), ``ResultFileError``,
``UsageError`` and ``DistributedError`` into one line on stderr and exit status 2;
``KeyboardInterrupt`` (SIGINT, also ``RunInterrupted``) into exit status 130 and
``Terminated`` (SIGTERM) into 143, both meaning that nothing was written;
``InterruptedAfterWrite`` into a note and exit status 0. Anything else is a bug (status 1).
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by the handler the CLI installs (``sim.cli.main``), so that every
    cleanup written for Ctrl-C (``except BaseException`` / ``except KeyboardInterrupt``:
    temporaries removed, locks released) runs for it too; exit status 143."""

    def __init__(self, message: str = "terminated (SIGTERM)"):
        super().__init__(message)


class InterruptedAfterWrite(KeyboardInterrupt):
    """SIGINT or SIGTERM that arrived after the output was completely written (e.g. while
    its table was printed): the output is there and complete, so the CLI says so on stderr
    and exits with status 0. Raised, in place of the interrupt, by the code that knows
    the output is in place (the result writer after its rename, the report after its
    files moved in, a command printing after its write)."""

    def __init__(self, path, signal: str = "SIGINT"):
        super().__init__(f"interrupted ({signal}) after {str(path)!r} was written")
        self.path = str(path)
        self.signal = signal

    @classmethod
    def after(cls, interrupt: BaseException, path) -> "InterruptedAfterWrite":
        """The interrupt ``interrupt`` (``KeyboardInterrupt`` or ``Terminated``) once
        ``path`` was written; an ``InterruptedAfterWrite`` stays as it is."""
        if isinstance(interrupt, InterruptedAfterWrite):
            return interrupt
        return cls(path, "SIGTERM" if isinstance(interrupt, Terminated) else "SIGINT")
