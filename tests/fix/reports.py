"""Saved reports for ``why502 fix`` tests: one finding whose fix is a diff of a real file, pinned
by the file's SHA-256 as ``why502 diagnose`` pins it (schema 1.1)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from why502.facts.probes import ProbeTarget
from why502.findings.model import Finding, Fix, Report, UpstreamSummary
from why502.findings.patch import unified_diff


def report_for(conf: Path, new_text: str, out: Path, cause: str = "backend-too-slow",
               probed: ProbeTarget | None = None, proxy: str = "nginx") -> Path:
    """Write a report proposing ``new_text`` for ``conf`` to ``out``; ``probed`` is the finding's
    backend as diagnose would have probed it (``upstreams[].probes[].target``); ``proxy`` names
    the proxy as diagnose's ``inputs`` do (``proxy`` and ``config`` for HAProxy and Apache)."""
    old = conf.read_text()
    digest = hashlib.sha256(conf.read_bytes()).hexdigest()
    fix = Fix(summary="change the config", diff=unified_diff(old, new_text, str(conf)), file=str(conf),
              commands=["nginx -t", "systemctl restart app"], hashes={str(conf): digest})
    upstream = probed.label if probed else None
    finding = Finding(cause=cause, title="test finding", confidence=0.9, status_codes=[504],
                      symptoms=["read-timeout"], explanation="x", fix=fix, upstream=upstream)
    upstreams = [UpstreamSummary(name=probed.label, targets=[probed.label],
                                 probes=[{"target": asdict(probed)}])] if probed else []
    inputs = {"nginx_conf": str(conf)} if proxy == "nginx" else {"proxy": proxy, "config": str(conf)}
    report = Report(findings=[finding], inputs=inputs, upstreams=upstreams)
    out.write_text(json.dumps(report.to_dict()))
    return out


def journal_states(state_dir: Path) -> list[str]:
    return [json.loads(p.read_text())["state"] for p in sorted(state_dir.glob("*/journal.json"))]
