"""The folder of ``hedgesim report``: which files hedgesim may write, replace or remove there.

A report folder is hedgesim's through its manifest, ``hedgesim-report.json`` (written last:
``format`` "hedgesim-report", ``format_version``, the result, and every file of the report
with its SHA-256). A report is written

- into a folder that does not exist (created, with its parents),
- into an empty folder, or
- into a folder that holds hedgesim's manifest,

and never overwrites or deletes a file the manifest does not list, nor one changed since
hedgesim wrote it (its SHA-256 differs): it refuses with one line naming the file
(``UsageError``, exit status 2). Files of the previous report that the new one does not
have (e.g. ``fan_chart.png``) are removed only when the old manifest lists them; any other
file in the folder (a user's notes) is left alone.

The files are first written into a hidden temporary folder (``.hedgesim-report.tmp-*`` in
the report folder, or ``.NAME.hedgesim-report.tmp-*`` next to a folder that does not exist
yet) and moved in only when all of them are written, with SIGINT/SIGTERM held during the moves
(``sim.results.signals.held``: the moves finish, then ``InterruptedAfterWrite``, exit
status 0); a failure or a signal before that leaves the folder as it was and removes the
temporary. A temporary left by a killed process (SIGKILL) is swept by the next report into
the same folder once it is older than ``SWEEP_AGE_S``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from sim.errors import InterruptedAfterWrite, UsageError
from sim.results import signals
from sim.version import __version__

MANIFEST = "hedgesim-report.json"
FORMAT = "hedgesim-report"
FORMAT_VERSION = 1
TMP_TAG = "hedgesim-report.tmp-"
SWEEP_AGE_S = 300.0  # a temporary older than this is a leftover (a report moves its files in within seconds)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ReportFolder:
    """The report folder ``out`` and the files of an earlier report there that hedgesim may
    replace or remove (``owned``: name -> SHA-256). Creating it checks the folder (refuses a
    foreign one) and changes nothing but hedgesim's own stale temporaries."""

    def __init__(self, out: str | Path, report_files: frozenset[str]):
        self.out = Path(out)
        self.report_files = report_files  # the only names a manifest may make hedgesim touch
        self.owned: dict[str, str] = {}
        if (self.out.exists() or self.out.is_symlink()) and not self.out.is_dir():
            raise UsageError(f"report folder {str(self.out)!r}: exists and is not a folder")
        if self.out.is_dir():
            self._sweep(self.out, TMP_TAG)
            self.owned = self._read_manifest()
        elif self.out.parent.is_dir():
            self._sweep(self.out.parent, f"{self.out.name}.{TMP_TAG}")

    def _refuse(self, what: str) -> UsageError:
        return UsageError(f"report folder {str(self.out)!r}: {what}; not writing there (use a new or empty folder, "
                          "or one an earlier hedgesim report wrote)")

    def _read_manifest(self) -> dict[str, str]:
        m = self.out / MANIFEST
        if not m.exists() and not m.is_symlink():
            entries = sorted(p.name for p in self.out.iterdir() if not p.name.startswith("." + TMP_TAG))
            if not entries:
                return {}
            ours = [e for e in entries if e in self.report_files]
            if ours:
                name = "report.html" if "report.html" in ours else ours[0]
                raise self._refuse(f"{name!r} is there and hedgesim did not write it (no {MANIFEST})")
            raise self._refuse(f"holds {entries[0]!r} and is not a hedgesim report folder (no {MANIFEST})")
        try:
            doc = json.loads(m.read_text(encoding="utf-8"))
            ok = (isinstance(doc, dict) and doc.get("format") == FORMAT and isinstance(doc.get("files"), dict)
                  and isinstance(doc.get("format_version"), int) and not isinstance(doc["format_version"], bool))
        except (OSError, UnicodeDecodeError, ValueError):
            ok = False
        if not ok:
            raise self._refuse(f"{MANIFEST} is not a hedgesim report manifest")
        if doc["format_version"] > FORMAT_VERSION:
            raise self._refuse(f"{MANIFEST} has format_version {doc['format_version']} (this hedgesim "
                               f"{__version__} writes {FORMAT_VERSION})")
        owned = {}
        for name, entry in doc["files"].items():
            digest = entry.get("sha256") if isinstance(entry, dict) else None
            if name in self.report_files and isinstance(digest, str):  # any other name: never touched
                owned[name] = digest
        return owned

    def _unchanged(self, name: str) -> bool:
        """The file ``name`` is still the one hedgesim wrote (or is gone)."""
        p = self.out / name
        if not p.exists() and not p.is_symlink():
            return True
        if p.is_symlink() or not p.is_file():
            return False
        try:
            return sha256(p.read_bytes()) == self.owned[name]
        except OSError:
            return False

    def check(self, names) -> None:
        """Refuse (``UsageError``) when writing ``names`` would overwrite a file that is not
        hedgesim's."""
        if not self.out.is_dir():
            return
        for name in names:
            p = self.out / name
            if not p.exists() and not p.is_symlink():
                continue
            if name not in self.owned:
                raise self._refuse(f"{name!r} is there and hedgesim did not write it (not in {MANIFEST})")
            if not self._unchanged(name):
                raise self._refuse(f"{name!r} was changed since hedgesim wrote it (SHA-256 differs from {MANIFEST})")

    def write(self, files: dict[str, bytes], result: str) -> list[Path]:
        """Write ``files`` (name -> content) and the manifest, then remove the files of the
        previous report that are not among them; returns the paths of ``files`` in order."""
        self.check(files)
        entries = {name: {"sha256": sha256(data), "bytes": len(data)} for name, data in files.items()}
        doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "hedgesim_version": __version__,
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "result": result, "files": entries}
        stale = [n for n in self.owned if n not in files and self._unchanged(n)]
        try:
            if self.out.is_dir():
                self._write_into_existing(files, doc, stale)
            else:
                self._write_new(files, doc)
        except OSError as exc:
            raise UsageError(f"report folder {str(self.out)!r}: cannot be written ({exc.strerror or exc})") from None
        return [self.out / name for name in files]

    def _write_new(self, files: dict[str, bytes], doc: dict) -> None:
        created = _missing_ancestors(self.out.parent)
        tmp = self.out.parent / f".{self.out.name}.{TMP_TAG}{uuid.uuid4().hex[:8]}"
        moved = False
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            tmp.mkdir()
            _fill(tmp, files, doc)
            with signals.held(self.out):  # a signal now: the rename first, then InterruptedAfterWrite
                os.rename(tmp, self.out)  # fails if someone else's folder appeared meanwhile (not empty)
                moved = True
        except BaseException as exc:
            if moved:  # the report is complete (e.g. a signal while the handlers were restored)
                _after_moves(exc, self.out)
            shutil.rmtree(tmp, ignore_errors=True)
            for d in created:  # innermost first; only if still empty
                try:
                    d.rmdir()
                except OSError:
                    break
            raise

    def _write_into_existing(self, files: dict[str, bytes], doc: dict, stale: list[str]) -> None:
        tmp = self.out / f".{TMP_TAG}{uuid.uuid4().hex[:8]}"
        moved = False
        try:
            tmp.mkdir()
            _fill(tmp, files, doc)
            # while the files move in, the manifest lists the old ones and the new ones, so a
            # report cut short by SIGKILL or a power cut leaves nothing unlisted behind
            both = {**doc, "files": {**{n: {"sha256": d} for n, d in self.owned.items()}, **doc["files"]}}
            (tmp / "interim.json").write_text(json.dumps(both, indent=1), encoding="utf-8")
            self.check(files)  # again, just before replacing anything
            with signals.held(self.out):  # a signal now: the moves first, then InterruptedAfterWrite
                os.replace(tmp / "interim.json", self.out / MANIFEST)
                for name in files:
                    os.replace(tmp / name, self.out / name)
                for name in stale:
                    (self.out / name).unlink(missing_ok=True)
                os.replace(tmp / MANIFEST, self.out / MANIFEST)
                moved = True
        except BaseException as exc:
            if moved:
                _after_moves(exc, self.out)
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _sweep(folder: Path, prefix: str) -> None:
        """Remove hedgesim's own report temporaries left in ``folder`` by a killed process:
        by name, age, and content (only the files a report writes)."""
        now = time.time()
        try:
            candidates = [p for p in folder.iterdir() if p.name.startswith("." + prefix)]
        except OSError:
            return
        for p in candidates:
            try:
                if (p.is_symlink() or not p.is_dir() or now - p.stat().st_mtime < SWEEP_AGE_S
                        or any(not (c.name.endswith((".png", ".html", ".json")) and c.is_file())
                               for c in p.iterdir())):
                    continue
                shutil.rmtree(p)
            except OSError:
                continue


def _after_moves(exc: BaseException, out: Path) -> None:
    """An exception once every file is in place: an interrupt is ``InterruptedAfterWrite``."""
    if isinstance(exc, KeyboardInterrupt):
        raise InterruptedAfterWrite.after(exc, out) from None
    raise exc


def _fill(tmp: Path, files: dict[str, bytes], doc: dict) -> None:
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    (tmp / MANIFEST).write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _missing_ancestors(d: Path) -> list[Path]:
    """The folders of ``d``'s chain that do not exist yet, innermost first."""
    out = []
    d = d.absolute()
    while not d.exists() and d != d.parent:
        out.append(d)
        d = d.parent
    return out
