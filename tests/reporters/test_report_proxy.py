"""Which proxy a finding is about (``Finding.proxy``, schema 1.2) in every rendering: a host
may run several proxies, and diagnose with no flags diagnoses each one it finds."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from tests.reporters.test_report_sample import sample_report
from why502.findings.model import Report
from why502.reporters.html import render_html
from why502.reporters.markdown import render_markdown
from why502.reporters.text.report import render_terminal


def _two_proxies() -> Report:
    base = sample_report()
    nginx = replace(base.findings[0], proxy="nginx")
    haproxy = replace(base.findings[0], proxy="haproxy", cause="backend-not-running", count=1)
    inputs = {**base.inputs, "discovered": [
        {"proxy": "nginx", "pid": 10, "config": "/etc/nginx/nginx.conf"},
        {"proxy": "haproxy", "pid": 20, "config": "/etc/haproxy/haproxy.cfg"}]}
    return replace(base, findings=[nginx, haproxy], inputs=inputs)


def test_every_rendering_names_the_proxy_of_each_finding() -> None:
    report = _two_proxies()
    assert Report.from_dict(report.to_dict()) == report
    assert [f["proxy"] for f in report.to_dict()["findings"]] == ["nginx", "haproxy"]
    out = io.StringIO()
    render_terminal(report, Console(file=out, width=200, color_system=None), verbose=True)
    text = out.getvalue()
    assert "found running: nginx (pid 10, /etc/nginx/nginx.conf), HAProxy (pid 20" in text
    assert f"nginx · {report.findings[0].cause}" in text
    assert "HAProxy · backend-not-running" in text
    out = io.StringIO()  # the first screen names them too
    render_terminal(report, Console(file=out, width=200, color_system=None))
    first = out.getvalue()
    assert "found running: nginx (pid 10, /etc/nginx/nginx.conf), HAProxy (pid 20" in first
    assert "   nginx · " in first and "(HAProxy · backend-not-running" in first
    page = render_html(report)
    assert "<dt>proxy</dt><dd>HAProxy</dd>" in page and "<dt>proxy</dt><dd>nginx</dd>" in page
    md = render_markdown(report)
    assert "- **Proxy:** HAProxy" in md and "- **Proxy:** nginx" in md
