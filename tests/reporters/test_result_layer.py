"""Every result the reporters render is a ``findings`` type (issue 23, item 5): an explanation
and a fix plan too, which the text reporter read through ``Protocol`` stand-ins while they were
``app`` objects."""

from __future__ import annotations

import subprocess
import sys

from why502.app.explain import explain
from why502.app.fix.plan import from_lint
from why502.findings.explain import Explanation
from why502.findings.plan import Change, Plan
from why502.findings.targets import ProbeTarget
from why502.reporters.options import RenderOptions
from why502.reporters.text import render


def test_an_explanation_is_a_findings_type_rendered_as_before() -> None:
    page = explain("502")
    assert isinstance(page, Explanation) and type(page).__module__ == "why502.findings.explain"
    text = render(page, RenderOptions(width=100))
    assert "502" in text and text.strip()


def test_a_pasted_lines_page_is_set_by_app_from_the_registry() -> None:
    """``LineInfo.page`` is a field the app fills (the registry sits above findings)."""
    line = ('2026/03/01 12:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while '
            'connecting to upstream, client: 10.0.0.1, server: _, request: "GET / HTTP/1.1", '
            'upstream: "http://127.0.0.1:8080/", host: "x"')
    page = explain(line)
    assert page.line is not None and page.line.page is not None
    assert page.line.page.startswith("docs/proxies/") and page.to_dict()["line"]["page"] == page.line.page


def test_a_fix_plan_is_a_findings_type_rendered_by_the_text_reporter() -> None:
    target = ProbeTarget(host="127.0.0.1", port=8080)
    plan = Plan([Change("W502-001", "a title", "/etc/x.conf", "--- a\n+++ b\n", targets=(target,))],
                [("backend-down", "systemctl restart app")], ["a note"], proxy="x")
    text = render(plan, RenderOptions(width=100))
    assert "[1] W502-001: a title" in text and "$ systemctl restart app" in text and "note: a note" in text
    assert type(from_lint([], None)) is Plan


def test_explain_loads_no_other_findings_module() -> None:
    """``explain ID``'s start-up is a target (bench/startup.py): ``findings.explain`` and the text
    reporter's dispatch load neither ``findings.model`` nor ``findings.results``."""
    code = ("import sys, io, contextlib\nfrom why502.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['explain', 'backend-down'])\n"
            "print(sorted(m for m in sys.modules if m.startswith('why502.findings')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['why502.findings', 'why502.findings.explain']", out.stdout
