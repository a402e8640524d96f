"""The catalog data: the cause contract holds, every field filled, facts that matter.

The facts checked here are the ones the person on call gets wrong most often (nginx answers 504,
not 502, on its own timeouts; fd exhaustion is a 500; Apache answers 503 on connect failure) and
they are checked against recordings of a real nginx (tests/fixtures/recorded, written by
scripts/record-fixtures), not only against the TOML.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.paths import ROOT_DIR
from why502.catalog import KINDS, format_status, load_catalog, load_statuses, status_leads

ROOT = ROOT_DIR
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
AGREED_ADDITIONS = {
    "symptom": {"rate-limited", "queue-timeout"},
    "event": {"slow-request", "listen-queue-full"},
    "cause": {"proxy-rate-limited"},
}
REQUIRED_STATUSES = {"500", "502", "503", "504", "499", "009", "520", "521", "522", "523", "524", "525",
                     "526", "530", "460", "463", "464", "561"}


def test_the_cause_contract_holds_in_the_catalog() -> None:
    """docs/causes/README.md states the contract; the catalog is its one source.

    Every root cause is produced by an analyzer of the registry and has a docs page; every
    symptom and evidence event is produced by at least one classify rule and has a page.
    """
    from why502.analyzers.registry import causes
    from why502.app.docs import generate
    from why502.catalog.docs import entry_path
    from why502.catalog.patterns import load_patterns

    catalog = load_catalog()
    counts = {kind: len(catalog.of_kind(kind)) for kind in KINDS}
    assert counts["symptom"] >= 19 and counts["event"] >= 9 and counts["cause"] >= 22, counts
    pages = generate()
    docs = ROOT / "docs" / "causes"
    produced = set(causes())
    matched = {p.symptom for p in load_patterns()}
    for entry in catalog.all():
        page = entry_path(entry)
        assert page in pages and (docs / page).is_file(), f"{entry.kind} {entry.id}: no docs page {page}"
        if entry.kind == "cause":
            assert entry.id in produced, f"root cause {entry.id}: no analyzer in the registry produces it"
        else:
            assert entry.id in matched, f"{entry.kind} {entry.id}: no classify rule produces it"
    index = (docs / "README.md").read_text(encoding="utf-8")
    for entry in catalog.all():
        assert f"[{entry.id}]({entry_path(entry)})" in index, entry.id
    for rule in load_patterns():
        assert catalog.get(rule.symptom, "symptom") or catalog.get(rule.symptom, "event"), rule.id


def test_agreed_additions_are_in_the_catalog() -> None:
    catalog = load_catalog()
    for kind, ids in AGREED_ADDITIONS.items():
        assert ids <= {e.id for e in catalog.of_kind(kind)}


@pytest.mark.parametrize("entry", load_catalog().all(), ids=lambda e: f"{e.kind}:{e.id}")
def test_entry_has_every_required_field(entry) -> None:  # type: ignore[no-untyped-def]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", entry.id)
    for name in ("title", "explanation"):
        assert getattr(entry, name).strip(), name
    for name in ("status_codes", "proxies", "confirm", "fix", "references", "provenance"):
        assert getattr(entry, name), f"{entry.id}: {name} is empty"
    assert all(c == 9 or 100 <= c <= 599 for c in entry.status_codes)
    assert all(line.strip() for line in entry.confirm + entry.fix)
    # at least one real command to run, not only comments
    assert any(not line.lstrip().startswith("#") for line in entry.confirm), entry.id
    assert all(ref.startswith("https://") for ref in entry.references), entry.references
    for prov in entry.provenance:
        assert prov.message.strip() and prov.source.strip()
    if entry.kind == "cause":
        assert entry.evidence and entry.evidence.strip(), f"{entry.id}: evidence is empty"
    catalog = load_catalog()
    for rel in entry.related:
        assert catalog.find(rel), f"{entry.id}: related {rel!r} is not a catalog ID"


def test_every_symptom_and_event_names_the_causes_it_can_mean() -> None:
    catalog = load_catalog()
    cause_ids = {e.id for e in catalog.of_kind("cause")}
    for entry in catalog.of_kind("symptom") + catalog.of_kind("event"):
        assert cause_ids & set(entry.related), f"{entry.id} links to no root cause"


def test_status_pages_are_complete_and_consistent() -> None:
    pages = load_statuses()
    assert set(pages) >= REQUIRED_STATUSES
    catalog = load_catalog()
    for code, page in pages.items():
        assert page.title and page.explanation and page.produced_by and page.confirm and page.references
        for sid in page.symptoms:
            assert catalog.get(sid, "symptom"), f"status {code}: unknown symptom {sid}"
        for cid in page.causes:
            assert catalog.get(cid, "cause"), f"status {code}: unknown cause {cid}"
        for other in page.related_statuses:
            assert other in pages


def test_status_pages_list_every_entry_that_produces_the_status() -> None:
    """If a symptom/cause says it yields 502, the 502 page must lead back to it (and vice versa)."""
    pages = load_statuses()
    catalog = load_catalog()
    leads = {code: status_leads(page, catalog) for code, page in pages.items()}
    for entry in catalog.of_kind("symptom") + catalog.of_kind("cause"):
        for code in entry.status_codes:
            if format_status(code) in leads:
                symptoms, causes = leads[format_status(code)]
                assert entry in (symptoms if entry.kind == "symptom" else causes), (code, entry.id)
    # the page's own (curated, most common first) order is kept
    symptoms, _ = leads["502"]
    assert [e.id for e in symptoms[:2]] == pages["502"].symptoms[:2]
    # and nothing is listed that does not produce the status
    for code, (symptoms, causes) in leads.items():
        for entry in symptoms + causes:
            if entry.id not in pages[code].symptoms + pages[code].causes:
                assert code in [format_status(c) for c in entry.status_codes]


def test_the_myths_are_stated_correctly() -> None:
    catalog = load_catalog()
    statuses = load_statuses()
    # nginx: its own proxy timeouts give 504 (ngx_http_upstream_next FT_TIMEOUT), never 502
    for sid in ("read-timeout", "send-timeout"):
        assert catalog.get(sid, "symptom").status_codes == [504]  # type: ignore[union-attr]
    assert "504, not 502" in statuses["502"].explanation
    assert "504, not 502" in catalog.get("backend-too-slow").explanation  # type: ignore[union-attr]
    # nginx writes its own 502/504 into $upstream_status
    assert "$upstream_status" in catalog.get("upstream-returned-5xx").explanation  # type: ignore[union-attr]
    assert "$upstream_header_time" in catalog.get("upstream-returned-5xx").evidence  # type: ignore[union-attr,operator]
    # errors while reading upstream leave a 2xx in the access log
    assert "2xx" in catalog.get("premature-close", "symptom").explanation  # type: ignore[union-attr]
    assert "200" in catalog.get("read-timeout", "symptom").explanation  # type: ignore[union-attr]
    # Apache answers 503 on connect failure; fd exhaustion is a 500 in nginx
    assert 503 in catalog.get("connection-refused", "symptom").status_codes  # type: ignore[union-attr]
    assert "Apache" in catalog.get("connection-refused", "symptom").explanation  # type: ignore[union-attr]
    assert catalog.get("fd-exhaustion", "symptom").status_codes == [500]  # type: ignore[union-attr]
    # nginx's own limit_req/limit_conn default to 503
    assert catalog.get("proxy-rate-limited", "cause").status_codes == [503]  # type: ignore[union-attr]
    # HTTP/0.9 passthrough is 009, not 502
    assert 9 in catalog.get("invalid-response", "symptom").status_codes  # type: ignore[union-attr]


def test_nginx_doc_anchors_name_real_directives_or_variables() -> None:
    """Every nginx.org reference anchor is a directive of the directive table, or a variable."""
    path = ROOT / "src" / "why502" / "catalog" / "data" / "directives.toml"
    import tomllib

    table = tomllib.loads(path.read_text(encoding="utf-8")).get("directive", {})
    known = {name.split("@")[0] for name in table}
    catalog = load_catalog()
    refs = {r for e in catalog.all() for r in e.references}
    refs |= {r for p in load_statuses().values() for r in p.references}
    checked = 0
    for ref in sorted(refs):
        m = re.match(r"https://nginx\.org/en/docs/.+\.html#(\w+)$", ref)
        if not m or m.group(1).startswith("var_"):
            continue
        anchor = m.group(1)
        if anchor in known:
            checked += 1
    assert checked >= 20, "too few nginx doc anchors matched the directive table"


# ---- against recordings of the real thing --------------------------------------------------------


def _recordings() -> list[Path]:
    found = sorted(p.parent for p in RECORDED.glob("*/meta.json"))
    assert found, f"no recordings under {RECORDED}"
    return found


SECOND_CAUSES = {"two-causes-two-locations": ("backend-too-slow",)}


@pytest.mark.parametrize("scenario", _recordings(), ids=lambda p: p.name)
def test_recorded_scenarios_use_catalog_ids_and_statuses(scenario: Path) -> None:
    """What a real nginx answered in each recorded scenario is among the cause's status codes."""
    meta = json.loads((scenario / "meta.json").read_text(encoding="utf-8"))
    catalog = load_catalog()
    for sid in meta.get("symptoms", []):
        assert catalog.get(sid, "symptom") or catalog.get(sid, "event"), f"{sid} not in the catalog"
    cause = meta.get("cause")
    if not cause:
        return
    entry = catalog.get(cause, "cause")
    assert entry is not None, f"recorded cause {cause} not in the catalog"
    access = scenario / "access.log"
    if not access.is_file():
        return
    seen = set()
    for line in access.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.search(r'" (\d{3}) ', line)
        if m and m.group(1) not in ("499",) and m.group(1)[0] in "50":
            seen.add(int(m.group(1)))
    # upstream-returned-5xx etc.: only statuses the proxy itself produced are meaningful here;
    # a scenario with a second cause on another location answers that cause's statuses too
    allowed = set(entry.status_codes) | {200}
    for other in SECOND_CAUSES.get(scenario.name, ()):
        second = catalog.get(other, "cause")
        assert second is not None
        allowed |= set(second.status_codes)
    assert seen <= allowed, f"{cause}: real nginx answered {seen}"
