"""``why502 stats --config haproxy.cfg haproxy.log``: httplog lines as access-log statistics."""

from __future__ import annotations

import json

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR
from why502.parsers.haproxy_log import to_nginx_line

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"


def test_timers_keep_nginx_meanings() -> None:
    sh, ok = (HAP / "sh-timeout.log").read_text().splitlines()[:2], None
    row = to_nginx_line(sh[0], {"app/web1": "127.0.0.1:9"}, zone="+0000")
    # sH: connected (Tc 0), no header (Tr -1) -> uht "-" like nginx's timeout, Ta 1001 ms
    assert row is not None and 'ua="127.0.0.1:9" us="504" uct="0.000" uht="-" urt="1.001"' in row
    assert "rt=1.001" in row and "[21/Nov/2026:21:37:15 +0000]" in row
    nosrv = next(ln for ln in (HAP / "server-down-nosrv.log").read_text().splitlines() if "<NOSRV>" in ln)
    row = to_nginx_line(nosrv, zone="+0000")
    assert row is not None and 'ua="app" us="503" uct="-" uht="-" urt="-"' in row
    assert to_nginx_line("Server app/web1 is DOWN, reason: x") is None and ok is None


def test_stats_reads_a_real_haproxy_log(run_main: RunMain) -> None:
    code, out, err = run_main("stats", "--config", str(HAP / "sq-queue-timeout.cfg"), "--format",
                              "json", str(HAP / "sq-queue-timeout.log"))
    assert code == 1, err  # 1: the log holds 5xx
    data = json.loads(out)
    assert data["requests"] == 3 and data["by_status"]["503"] == 2
    assert data["files"] == [str(HAP / "sq-queue-timeout.log")]
    ups = {u["address"] for u in data["upstreams"]}
    assert "127.0.0.1:34539" in ups  # the server's address from the config, as diagnose names it
