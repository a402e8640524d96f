"""Every recorded scenario keeps its answer on a noisy host (``why502.lab.noise_replay``).

The baseline is recorded from a real nginx (``scripts/record-noise``): another healthy
application behind the same server, static 200/404s, a TLS ClientHello on the HTTP port (400,
raw bytes in the error log), a client that hangs up (499); plus other jobs' OOM kills and
segfaults in the kernel log and yesterday's incident in the error log.  It is laid over the
recorded inputs of *every* scenario offline, so the whole lab is checked in seconds; the live
``why502 lab check --noisy`` makes the same traffic for real (tests/lab/test_lab_noise.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.diagnose.test_diagnose_fixtures import (
    METAS,
    NEEDS_PROBE,
    materialize,
    options_for,
    recorded_listeners,
)
from why502.app.diagnose import gather, report_from
from why502.findings.model import Report
from why502.lab.noise import OTHER_UPSTREAM, load_baseline
from why502.lab.noise_replay import replay

CASES = [m for m in METAS if m["scenario"] not in NEEDS_PROBE]


def noisy_report(meta: dict[str, Any], base: Any) -> tuple[Report, dict[str, Any]]:
    real = materialize(meta, base)
    files, extra = replay(real["dir"], real)
    real["files"] = files
    g = gather(options_for(real))
    g = replace(g, evidence=replace(g.evidence, listeners=recorded_listeners(real) + extra))
    return report_from(g), real


@pytest.mark.parametrize("meta", CASES, ids=[m["scenario"] for m in CASES])
def test_the_answer_holds_on_the_recorded_noisy_baseline(meta: dict[str, Any],
                                                         tmp_path: Any) -> None:
    report, _ = noisy_report(meta, tmp_path)
    causes = [f.cause for f in report.findings]
    if meta.get("cause") is None:
        assert causes == [], causes
    else:
        assert causes and causes[0] == meta["cause"], causes
    assert "backend-oom-killed" not in causes or meta.get("cause") == "backend-oom-killed", causes
    # the baseline was read: the kernel log, and (nginx) the other application's 200s
    assert any(i.endswith("kernel.log") for i in report.inputs.get("kernel", [])) or any(
        "kernel.log" in str(v) for v in report.to_dict()["inputs"].values()), report.inputs
    if "access_log" in meta["files"] and "nginx_conf" in meta["files"] \
            and (meta.get("log_format") or {}).get("name") != "combined":  # no $upstream_addr
        other = [u for u in report.upstreams if u.name == OTHER_UPSTREAM]
        assert other and other[0].statuses.get("200", 0) >= 5, report.upstreams
    # the other application is healthy: no finding is about it
    assert all(OTHER_UPSTREAM not in (f.upstream or "") and load_baseline()["backend"]
               not in (f.target or "") for f in report.findings), causes
