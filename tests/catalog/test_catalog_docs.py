"""docs/causes/ is generated from the catalog: a stale page or a missing section fails here.

Fix a failure with `scripts/gen-docs` (= `python -m why502.app.docs --write docs`) and commit the
result; the pages also change when the classify rules (catalog/data/patterns.toml) change.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT_DIR
from why502.app.docs import generate, load_pattern_rows, stale_pages
from why502.catalog import Entry, Provenance, load_catalog, load_statuses
from why502.catalog.docs import REQUIRED_SECTIONS, entry_path, render_entry_page, status_path

ROOT = ROOT_DIR
DOCS = ROOT / "docs"


def test_committed_pages_are_not_stale() -> None:
    stale = stale_pages(DOCS)
    assert not stale, f"stale docs/causes pages (run scripts/gen-docs): {stale}"


def test_check_mode_detects_a_stale_page(tmp_path: Path) -> None:
    pages = generate()
    for rel, text in pages.items():
        (tmp_path / "causes" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "causes" / rel).write_text(text, encoding="utf-8")
    run = [sys.executable, "-m", "why502.app.docs", "--check", str(tmp_path)]
    assert subprocess.run(run, capture_output=True).returncode == 0
    victim = tmp_path / "causes" / "backend-not-running.md"
    victim.write_text(victim.read_text(encoding="utf-8").replace("## Fix", "## Fixed"), encoding="utf-8")
    (tmp_path / "causes" / "gone-cause.md").write_text("# old\n", encoding="utf-8")
    res = subprocess.run(run, capture_output=True, text=True)
    assert res.returncode == 1
    assert "backend-not-running.md" in res.stderr and "gone-cause.md" in res.stderr
    # --write repairs both: rewrites the edited page, deletes the orphan
    subprocess.run([sys.executable, "-m", "why502.app.docs", "--write", str(tmp_path)], check=True,
                   capture_output=True)
    assert subprocess.run(run, capture_output=True).returncode == 0
    assert not (tmp_path / "causes" / "gone-cause.md").exists()


def _sections(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, flags=re.M)


@pytest.mark.parametrize("entry", load_catalog().all(), ids=lambda e: f"{e.kind}:{e.id}")
def test_entry_page_has_required_sections(entry: Entry) -> None:
    text = (DOCS / "causes" / entry_path(entry)).read_text(encoding="utf-8")
    assert re.search(rf"^# {re.escape(entry.id)}: .+", text, flags=re.M), "title missing"
    sections = _sections(text)
    for required in REQUIRED_SECTIONS[entry.kind]:
        assert required in sections, f"{entry_path(entry)}: section {required!r} missing"
    for cmd in entry.confirm:
        assert cmd in text


@pytest.mark.parametrize("code", sorted(load_statuses()))
def test_status_page_has_required_sections(code: str) -> None:
    text = (DOCS / "causes" / status_path(code)).read_text(encoding="utf-8")
    assert f"\n# {load_statuses()[code].title}\n" in text
    for required in REQUIRED_SECTIONS["status"]:
        assert required in _sections(text)


def test_cause_pages_state_the_evidence() -> None:
    for entry in load_catalog().of_kind("cause"):
        text = (DOCS / "causes" / entry_path(entry)).read_text(encoding="utf-8")
        body = text.split("## Evidence that proves it", 1)[1].split("\n## ", 1)[0]
        assert body.strip(), entry.id


def test_every_relative_link_resolves() -> None:
    base = DOCS / "causes"
    checked = 0
    for page in base.rglob("*.md"):
        for target in re.findall(r"\]\(([^)<>\s]+\.md)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).resolve().is_file(), f"{page.relative_to(base)} -> {target}"
            checked += 1
    assert checked > 200


def test_symptom_pages_show_the_classify_patterns() -> None:
    rows = load_pattern_rows()
    assert rows, "no classify rules were loaded"
    # every symptom and event the classifier can emit has a catalog page, and vice versa
    catalog = load_catalog()
    emitted = set(rows)
    pages = {e.id for e in catalog.of_kind("symptom") + catalog.of_kind("event")}
    assert emitted <= pages, f"classify emits IDs without a catalog entry: {sorted(emitted - pages)}"
    assert pages <= emitted, f"catalog symptoms/events no classify rule produces: {sorted(pages - emitted)}"
    text = (DOCS / "causes" / "symptoms" / "header-too-big.md").read_text(encoding="utf-8")
    assert "## Log messages recognised by `why502 classify`" in text
    assert "upstream sent too big header" in text


def test_hostile_text_cannot_break_a_table_or_fence() -> None:
    catalog = load_catalog()
    base = catalog.get("read-timeout", "symptom")
    assert base is not None
    evil = Entry(
        id="evil", kind="symptom", title="t", status_codes=[502], proxies=["nginx"], explanation="x",
        confirm=["echo '```'"], fix=["f"], references=["https://example.org"],
        provenance=[Provenance(message="a | b `c`", source="s|t", note="n\nm")],
    )
    text = render_entry_page(evil, catalog, load_statuses())
    prov_rows = [ln for ln in text.splitlines() if "s\\|t" in ln]
    assert len(prov_rows) == 1
    # 3 columns: 4 unescaped pipes
    assert len(re.findall(r"(?<!\\)\|", prov_rows[0])) == 4
    assert "````sh" in text  # the fence is longer than the ``` inside the command
