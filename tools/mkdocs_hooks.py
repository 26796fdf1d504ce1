"""mkdocs hooks of the documentation site (mkdocs.yml).

1. Pages from files outside docs/ (``EXTERNAL``): README.md becomes getting-started.md,
   CONTRIBUTING.md contributing.md, LICENSE license.md, and the provenance notes of the
   shipped data and presets pages under provenance/. Nothing is copied into docs/: the
   pages are built from the repository's own files.
2. Links: every relative link of every page is resolved against the file it was written
   in (so ``docs/run.md`` in README.md and ``../README.md`` in docs/index.md both work on
   GitHub and in the site) and rewritten to the page that holds the target. A link to a
   repository file that is not a page is an error: the site cites nothing it does not hold.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path, PurePosixPath

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("mkdocs.hooks.hedgesim")

# repository file -> page of the site (docs-relative)
EXTERNAL = {
    "README.md": "getting-started.md",
    "CONTRIBUTING.md": "contributing.md",
    "LICENSE": "license.md",
    "data/PROVENANCE.md": "provenance/data.md",
    "configs/data/PROVENANCE.md": "provenance/configs-data.md",
    "configs/exchanges/README.md": "provenance/exchanges.md",
}
PAGE_SOURCE = {page: src for src, page in EXTERNAL.items()}

LINK = re.compile(r"(\]\()([^)\s]+)(\))")
# research notes tag facts as [CALC], [INFERRED]: plain text, not reference links
TAG = re.compile(r"(?<![\\\]])\[([A-Z][A-Z0-9 ,.-]*[A-Z0-9])\](?![(\[:])")


def _content(src: str) -> str:
    text = (ROOT / src).read_text(encoding="utf-8")
    if src == "LICENSE":
        return "# License\n\n```text\n" + text.rstrip() + "\n```\n"
    return text


def on_files(files, config):
    for src, page in EXTERNAL.items():
        files.append(File.generated(config, page, content=_content(src)))
    return files


def _target(page_src: str, href: str) -> str | None:
    """The docs-relative page for a link written in repository file ``page_src``, or None
    when the link is not a relative file link."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", href) or href.startswith(("#", "/")):
        return None
    path, _, anchor = href.partition("#")
    repo = PurePosixPath(page_src).parent.joinpath(path)
    parts: list[str] = []
    for part in repo.parts:
        if part == "..":
            if not parts:
                raise ValueError(f"{page_src}: link {href!r} leaves the repository")
            parts.pop()
        elif part != ".":
            parts.append(part)
    rel = "/".join(parts)
    if rel.startswith("docs/"):
        page = rel[len("docs/"):]
    elif rel in EXTERNAL:
        page = EXTERNAL[rel]
    else:
        raise ValueError(f"{page_src}: link {href!r} points to {rel!r}, which is not a page of the site")
    return page + (f"#{anchor}" if anchor else "")


def _relative(from_page: str, to_page: str) -> str:
    base = PurePosixPath(from_page).parent
    to = PurePosixPath(to_page.split("#")[0])
    up = len(base.parts)
    rel = "/".join([".."] * up + list(to.parts)) if up else str(to)
    common = 0
    for a, b in zip(base.parts, to.parts):
        if a != b:
            break
        common += 1
    if common:
        rel = "/".join([".."] * (up - common) + list(to.parts[common:]))
    return rel + ("#" + to_page.split("#", 1)[1] if "#" in to_page else "")


def on_page_markdown(markdown, page, config, files):
    page_path = page.file.src_uri
    page_src = PAGE_SOURCE.get(page_path, "docs/" + page_path)
    errors = []

    def fix(m):
        href = m.group(2)
        try:
            target = _target(page_src, href)
        except ValueError as err:
            errors.append(str(err))
            return m.group(0)
        if target is None:
            return m.group(0)
        return m.group(1) + _relative(page_path, target) + m.group(3)

    out = TAG.sub(r"\\[\1\\]", LINK.sub(fix, markdown))
    for err in errors:
        log.warning(err)  # strict mode: the build fails
    return out
