"""The lock on an output being written, and the sweep of hedgesim's own temporaries.

* ``acquire(out)``: creates ``.NAME.lock`` beside ``out`` with ``O_EXCL`` (pid, host, start
  time, command), or raises ``ResultFileError`` naming the process that holds it. A lock
  whose process no longer runs on this host is stale: it is removed with a note. The
  lock is re-entrant within one thread (the CLI takes it before simulating, the writer
  again around the write) and released by ``Lock.release`` (or ``with``), at the latest
  when the process exits.
* ``temp_path(out, what)``: ``.NAME.tmp-<pid>-<hex>`` (a result being written) or
  ``.NAME.old-<pid>-<hex>`` (the result it replaces, while it is swapped out).
* ``sweep(out)``: removes those of ``out``'s name whose process is gone (on this host) or
  that are older than a day, and temporaries of hedgesim before format v1
  (``.NAME.tmp-<hex>``) older than a day. Only names of these patterns are touched, and
  only while the lock of ``out`` is held.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sim.errors import ResultFileError
from sim.results.meta import current_command, utc_now

MAX_AGE_S = 86_400.0  # temporaries older than this are removed whoever wrote them
YOUNG_LOCK_S = 5.0  # an empty lock file younger than this is being written by its owner
_TEMP = re.compile(r"(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}")
_LEGACY_TEMP = re.compile(r"tmp-[0-9a-f]{8}|old-[0-9a-f]{8}")  # hedgesim before format v1: no pid

_MUTEX = threading.Lock()


def note_to_stderr(text: str) -> None:
    print(f"hedgesim: note: {text}", file=sys.stderr)


def lock_path(out: str | Path) -> Path:
    p = Path(out).absolute()
    return p.with_name(f".{p.name}.lock")


def temp_path(out: str | Path, what: str = "tmp") -> Path:
    p = Path(out)
    return p.with_name(f".{p.name}.{what}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass
class Lock:
    """A lock file held by this process (``count``: nested acquisitions by its thread)."""

    path: Path
    out: Path
    thread: int
    made_dirs: list[Path] = field(default_factory=list)
    count: int = 1

    def release(self) -> None:
        with _MUTEX:
            self.count -= 1
            if self.count > 0:
                return
            _HELD.pop(self.path, None)
        try:
            if _read(self.path).get("pid") == os.getpid():
                self.path.unlink()
        except OSError:
            pass
        for d in reversed(self.made_dirs):  # folders made for the lock and left empty (nothing written)
            try:
                d.rmdir()
            except OSError:
                break

    def __enter__(self) -> "Lock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


_HELD: dict[Path, Lock] = {}


def acquire(out: str | Path, note: Callable[[str], None] | None = note_to_stderr) -> Lock:
    """Take the lock of ``out`` (see the module docstring). ``ResultFileError`` if another
    process (or another thread of this one) holds it, or it cannot be created."""
    lp = lock_path(out)
    me = threading.get_ident()
    with _MUTEX:
        held = _HELD.get(lp)
        if held is not None:
            if held.thread != me:
                raise ResultFileError(f"result {str(out)!r}: another thread of this process is writing it")
            held.count += 1
            return held
    made = _make_parents(lp.parent, out)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": utc_now(),
            "command": current_command("")}
    for _ in range(50):
        try:
            fd = os.open(lp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            text, holder = _read_text(lp)
            verdict = _stale(lp, holder)
            if verdict == "young":
                time.sleep(0.1)
                continue
            if verdict:
                if note is not None:
                    note(f"removing the stale lock {str(lp)!r} ({verdict})")
                _remove_if_unchanged(lp, text)
                continue
            _remove_dirs(made)
            raise ResultFileError(_busy_message(out, lp, holder)) from None
        except OSError as exc:
            _remove_dirs(made)
            raise ResultFileError(f"result {str(out)!r}: cannot be written (cannot create the lock file "
                                  f"{str(lp)!r}: {exc.strerror or exc})") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
        lock = Lock(lp, Path(out), me, made)
        with _MUTEX:
            _HELD[lp] = lock
        return lock
    _remove_dirs(made)
    raise ResultFileError(f"result {str(out)!r}: its lock file {str(lp)!r} keeps changing; is another hedgesim "
                          "writing it?")


def held(out: str | Path) -> bool:
    """Whether this thread holds the lock of ``out``."""
    h = _HELD.get(lock_path(out))
    return h is not None and h.thread == threading.get_ident()


def _busy_message(out, lp: Path, holder: dict) -> str:
    who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {holder.get('started', '?')}"
    cmd = f": {holder['command']}" if holder.get("command") else ""
    return (f"result {str(out)!r}: another hedgesim process is writing it ({who}{cmd}); wait for it to finish, "
            f"or remove {str(lp)!r} if that process is gone")


def _stale(lp: Path, holder: dict) -> str:
    """Why the lock ``lp`` is stale ("" if it is not; "young" if it is being written)."""
    if not holder:
        try:
            age = time.time() - lp.stat().st_mtime
        except OSError:
            return "gone"
        return "young" if age < YOUNG_LOCK_S else "empty or unreadable lock file"
    if holder.get("host") != socket.gethostname():
        return ""  # another host: whether its process runs cannot be told from here
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return "no process id in it"
    if pid == os.getpid():  # this process, but no thread holds it: left by an earlier command
        return f"left by this process, pid {pid}"
    return "" if pid_alive(pid) else f"pid {pid} no longer runs"


def _read_text(lp: Path) -> tuple[str, dict]:
    try:
        text = lp.read_text(encoding="utf-8")
    except OSError:
        return "", {}
    try:
        holder = json.loads(text)
    except ValueError:
        return text, {}
    return text, holder if isinstance(holder, dict) else {}


def _read(lp: Path) -> dict:
    return _read_text(lp)[1]


def _remove_if_unchanged(lp: Path, text: str) -> None:
    try:
        if lp.read_text(encoding="utf-8") == text:
            lp.unlink()
    except OSError:
        pass


def _make_parents(d: Path, out) -> list[Path]:
    missing = []
    while not d.exists():
        missing.append(d)
        d = d.parent
    try:
        for m in reversed(missing):
            m.mkdir()
    except FileExistsError:
        pass
    except OSError as exc:
        raise ResultFileError(f"result {str(out)!r}: cannot be written (cannot create {str(m)!r}: "
                              f"{exc.strerror or exc})") from None
    return list(reversed(missing))


def _remove_dirs(made: list[Path]) -> None:
    for d in reversed(made):
        try:
            d.rmdir()
        except OSError:
            break


def sweep(out: str | Path, note: Callable[[str], None] | None = note_to_stderr) -> list[Path]:
    """Remove the temporaries of ``out``'s name left by writes that did not finish (see
    the module docstring); the caller holds the lock of ``out``. Returns what went."""
    p = Path(out)
    prefix = f".{p.name}."
    try:
        entries = [e for e in p.parent.iterdir() if e.name.startswith(prefix)]
    except OSError:
        return []
    now = time.time()
    gone = []
    for e in entries:
        rest = e.name[len(prefix):]
        m = _TEMP.fullmatch(rest)
        if m is None and not _LEGACY_TEMP.fullmatch(rest):
            continue
        try:
            age = now - e.lstat().st_mtime
        except OSError:
            continue
        pid = int(m["pid"]) if m else None
        if age > MAX_AGE_S or (pid is not None and (pid == os.getpid() or not pid_alive(pid))):
            if e.is_dir() and not e.is_symlink():
                shutil.rmtree(e, ignore_errors=True)
            else:
                e.unlink(missing_ok=True)
            gone.append(e)
    if gone and note is not None:
        note(f"removed {len(gone)} temporar{'y' if len(gone) == 1 else 'ies'} of {p.name} left by writes that "
             f"did not finish: {', '.join(g.name for g in gone)}")
    return gone


@atexit.register
def _release_all() -> None:
    for lock in list(_HELD.values()):
        lock.count = 1
        lock.release()
