"""The field corpus (tests/fixtures/field/*.jsonl) is well formed.

The corpus holds real log lines copied from public bug reports, Q&A threads and other projects'
test fixtures (tests/fixtures/field/README.md says how they were gathered and labelled).  This
test checks only its shape, not the classifier: every record has the documented keys and types,
a source URL, a symptom/event ID the catalog knows (or a proposal the README names), and the
corpus keeps the sizes the README promises, so a later edit cannot quietly thin it out.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.catalog import load_catalog

FIELD = FIXTURES_DIR / "field"
PROGRAMS = frozenset({"nginx", "apache", "haproxy", "php-fpm", "php", "gunicorn", "uwsgi", "uvicorn", "puma",
                      "node", "kernel", "systemd"})
FILES: dict[str, frozenset[str]] = {
    "nginx": frozenset({"nginx"}),
    "apache": frozenset({"apache"}),
    "haproxy": frozenset({"haproxy"}),
    "fpm": frozenset({"php-fpm", "php", "gunicorn", "uwsgi"}),
    # batches added later (README "Batches"): any program, one file per batch, never edited after its
    # first score is recorded in docs/dev/field-corpus.md
    **{p.stem: PROGRAMS for p in sorted((FIXTURES_DIR / "field").glob("batch-*.jsonl"))},
}
REQUIRED = frozenset({"line", "source", "proxy", "version", "framing", "expected"})
OPTIONAL = frozenset({"event", "side", "note"})
SIDES = frozenset({"backend", "proxy", "client"})
# Symptom IDs the corpus needs and the catalog does not have yet; README.md explains each.
PROPOSED = frozenset({"connect-failed", "check-wrong-status"})
URL = re.compile(r"^https://[^\s]+$")


def _records(name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, text in enumerate((FIELD / f"{name}.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        rec = json.loads(text)
        assert isinstance(rec, dict), f"{name}.jsonl:{n} is not an object"
        out.append(rec)
    return out


ALL = {name: _records(name) for name in FILES}


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_record_has_the_documented_keys_and_types(name: str) -> None:
    catalog = load_catalog()
    symptoms = {e.id for e in catalog.of_kind("symptom")} | PROPOSED
    events = {e.id for e in catalog.of_kind("event")}
    for n, rec in enumerate(ALL[name], 1):
        where = f"{name}.jsonl:{n}"
        keys = set(rec)
        assert keys >= REQUIRED, f"{where} lacks {sorted(REQUIRED - keys)}"
        assert keys <= REQUIRED | OPTIONAL, f"{where} has unknown keys {sorted(keys - REQUIRED - OPTIONAL)}"
        line = rec["line"]
        assert isinstance(line, str) and line.strip() and "\n" not in line, where
        assert isinstance(rec["source"], str) and URL.match(rec["source"]), f"{where}: source URL"
        assert rec["proxy"] in FILES[name], f"{where}: proxy {rec['proxy']!r}"
        assert rec["version"] is None or (isinstance(rec["version"], str) and rec["version"]), where
        assert isinstance(rec["framing"], str) and re.fullmatch(r"[a-z0-9-]+", rec["framing"]), where
        assert rec["expected"] is None or rec["expected"] in symptoms, f"{where}: symptom {rec['expected']!r}"
        assert rec.get("event") is None or rec["event"] in events, f"{where}: event {rec.get('event')!r}"
        assert rec.get("side") is None or rec["side"] in SIDES, f"{where}: side {rec.get('side')!r}"
        assert rec.get("note") is None or isinstance(rec["note"], str), where


def test_no_line_is_recorded_twice_from_the_same_source() -> None:
    seen = Counter((rec["line"], rec["source"]) for recs in ALL.values() for rec in recs)
    assert [k for k, v in seen.items() if v > 1] == []


def test_the_corpus_keeps_its_promised_sizes() -> None:
    every = [rec for recs in ALL.values() for rec in recs]
    assert len(every) >= 700
    for name in ("apache", "haproxy", "fpm"):
        assert len(ALL[name]) >= 60, name
    assert sum(rec["framing"] in ("fragment", "mangled") for rec in every) >= 40
    negatives = [rec for rec in every if rec["expected"] is None and rec.get("event") is None]
    assert len(negatives) >= 60
    assert len({rec["source"] for rec in every}) >= 400


def test_the_readme_documents_every_framing_and_proposal_used() -> None:
    readme = (FIELD / "README.md").read_text(encoding="utf-8")
    every = [rec for recs in ALL.values() for rec in recs]
    framings = {rec["framing"] for rec in every}
    assert sorted(f for f in framings if f"`{f}`" not in readme) == []
    used = {rec["expected"] for rec in every} & PROPOSED
    assert sorted(p for p in used if f"`{p}`" not in readme) == []


def test_every_batch_has_its_first_score_recorded() -> None:
    """A batch is scored through the command before any rule is changed for it, and that first
    score is kept in docs/dev/field-corpus.md: a batch without its row was never measured fresh."""
    table = (FIELD.parents[2] / "docs" / "dev" / "field-corpus.md").read_text(encoding="utf-8")
    missing = [name for name in FILES if name.startswith("batch-") and f"| `{name}` |" not in table]
    assert missing == []
