"""Generate ``docs/causes/`` from the catalog: ``python -m why502.app.docs --write docs``.

``--check docs`` exits 1 (listing the files) when a committed page differs from what the
generator produces, or a page exists for an entry that is gone; the test suite runs the same
comparison.  Message patterns per symptom come from ``why502.catalog.patterns.load_patterns()``
(the classify rules).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from why502.catalog import load_catalog, load_statuses
from why502.catalog.docs import PatternRow, render_all
from why502.catalog.patterns import load_patterns


def load_pattern_rows() -> dict[str, list[PatternRow]]:
    """Classify rules grouped by the symptom/event ID they produce."""
    rows: dict[str, list[PatternRow]] = {}
    for p in load_patterns():
        rows.setdefault(p.symptom, []).append(PatternRow(p.source, p.text, p.status, p.provenance))
    return rows


def generate() -> dict[str, str]:
    """Every page of ``docs/causes/``, keyed by its path relative to that folder."""
    return render_all(load_catalog(), load_statuses(), load_pattern_rows())


def stale_pages(docs_root: Path) -> list[str]:
    """Pages (relative to ``docs_root/causes``) that are missing, different, or no longer generated."""
    base = docs_root / "causes"
    pages = generate()
    stale = []
    for rel, text in pages.items():
        path = base / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(rel)
    if base.is_dir():
        stale += sorted(str(p.relative_to(base)) for p in base.rglob("*.md")
                        if str(p.relative_to(base)) not in pages)
    return stale


def write(docs_root: Path) -> list[str]:
    """Write every page and delete generated pages whose entry is gone; returns the changed paths."""
    base = docs_root / "causes"
    changed = stale_pages(docs_root)
    pages = generate()
    for rel in changed:
        path = base / rel
        if rel in pages:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(pages[rel], encoding="utf-8")
        elif path.is_file():
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m why502.app.docs",
                                     description="generate docs/causes/ from the why502 catalog")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DOCS_DIR", help="write DOCS_DIR/causes/*.md")
    group.add_argument("--check", metavar="DOCS_DIR", help="exit 1 if DOCS_DIR/causes is stale")
    args = parser.parse_args(argv)
    if args.write:
        changed = write(Path(args.write))
        print(f"docs: {len(changed)} page(s) updated under {Path(args.write) / 'causes'}")
        return 0
    stale = stale_pages(Path(args.check))
    if stale:
        print("docs: stale pages (run `python -m why502.app.docs --write docs`): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    print("docs: up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
