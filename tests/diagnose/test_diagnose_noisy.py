"""Every recorded scenario keeps its answer on a noisy host (``why502.lab.noise_replay``).

The baseline is recorded from a real nginx (``scripts/record-noise``): another healthy
application behind the same server, static 200/404s, a TLS ClientHello on the HTTP port (400,
raw bytes in the error log), a client that hangs up (499); plus other jobs' OOM kills and
segfaults in the kernel log and yesterday's incident in the error log.  It is laid over the
recorded inputs of *every* scenario offline, so the whole lab is checked in seconds; the live
``why502 lab check --noisy`` makes the same traffic for real (tests/lab/test_lab_noise.py).

Apache and HAProxy recordings get their own proxy's recorded noise (``noise.json`` "apache" /
"haproxy"): the other application's route in their config, its 200s, static 404s, TLS garbage
(HAProxy ``<BADREQ>`` CR--/PR--), a client hang-up (HAProxy ``CD--``: client-side) and
yesterday's incident (refusals towards an application the config no longer has).
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
from tests.support.evidence import with_host_listeners
from why502.app.diagnose.gather import gather
from why502.app.diagnose.report import report_from
from why502.findings.model import Report
from why502.lab.noise import OTHER_UPSTREAM, load_baseline
from why502.lab.noise_proxies import LEGACY_BACKEND, OTHER_BACKEND, STATIC_BACKEND
from why502.lab.noise_replay import replay

CASES = [m for m in METAS if m["scenario"] not in NEEDS_PROBE]


def noisy_report(meta: dict[str, Any], base: Any) -> tuple[Report, dict[str, Any]]:
    real = materialize(meta, base)
    files, extra = replay(real["dir"], real)
    real["files"] = files
    g = gather(options_for(real))
    g = replace(g, evidence=with_host_listeners(g.evidence, recorded_listeners(real) + extra))
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


PROXY_CASES = [m for m in CASES if m.get("proxy") in ("apache", "haproxy")]


@pytest.mark.parametrize("meta", PROXY_CASES, ids=[m["scenario"] for m in PROXY_CASES])
def test_apache_and_haproxy_noise_is_read_and_blamed_on_nothing(meta: dict[str, Any],
                                                                tmp_path: Any) -> None:
    base = load_baseline()[meta["proxy"]]
    report, real = noisy_report(meta, tmp_path)
    # the other application's route was read from the config as a target of its own
    assert base["other"] in report.to_dict()["inputs"]["targets"], report.inputs
    log = (real["dir"] / real["files"]["error_log"]).read_text(errors="replace")
    if meta["proxy"] == "haproxy":
        # the noise is in the log diagnose read: 200s, static 404s, <BADREQ>, a CD-- hang-up
        for needle in (f" {OTHER_BACKEND}/", f" {STATIC_BACKEND}/", "<BADREQ>", " CD-- "):
            assert needle in log, needle
        assert {OTHER_BACKEND, STATIC_BACKEND} <= {u.name for u in report.upstreams}
    else:
        assert "AH00128: File does not exist" in log
    # yesterday's incident was read (its minute is in the timeline) and ranks as a past one
    days = sorted({t["minute"][:10] for t in report.to_dict()["timeline"]})
    assert len(days) == 2, days
    legacy = [f for f in report.findings if LEGACY_BACKEND in (f.upstream or "") + (f.target or "")
              or any(ln.split("attempt to connect to ")[-1].split(" ")[0] in (f.target or "")
                     for ln in base["old_error"] if "attempt to connect to" in ln)]
    assert all("before the latest failure" in f.explanation for f in legacy), legacy
    # nothing is blamed on the healthy app, the static files or the clients
    noise = (base["other"], base.get("static", base["other"]), OTHER_BACKEND, STATIC_BACKEND)
    assert not [f.cause for f in report.findings
                if any(n in (f.upstream or "") + (f.target or "") for n in noise)]
    # the hang-up (CD--), the TLS garbage (400) and the 404s are not failures of the app: the
    # top finding counts the same requests as on the clean recording
    clean = materialize(meta, tmp_path / "clean")
    g = gather(options_for(clean))
    g = replace(g, evidence=with_host_listeners(g.evidence, recorded_listeners(clean)))
    before = report_from(g).findings
    assert report.findings[0].count == before[0].count, (report.findings[0], before[0])
