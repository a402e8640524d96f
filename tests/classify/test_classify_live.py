"""Live: a real nginx on loopback fails against dead and misbehaving backends of every upstream
module; ``why502 classify`` must recognise what it wrote (proxy, fastcgi, uwsgi, scgi, grpc,
memcached; sync and async connect forms).  Uses the lab runtime; everything stops by PID."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from why502.lab.runtime import LabSkip, Stack, find_nginx, free_port

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]

WHY502 = str(Path(sys.executable).with_name("why502"))


def test_real_nginx_failures_are_classified(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here
    missing_sock = tmp_path / "nope.sock"
    with Stack() as stack:
        try:
            crash = stack.add_backend("crash")
            reset = stack.add_backend("reset")
            invalid = stack.add_backend("invalid-header")
        except LabSkip as err:
            pytest.skip(str(err))
        stack.start_nginx(f"""
server {{
    listen {stack.listen};
    server_name lab.example;
    location /proxy {{ proxy_pass http://127.0.0.1:{dead}; }}
    location /fcgi {{ fastcgi_pass unix:{missing_sock}; }}
    location /uwsgi {{ uwsgi_pass 127.0.0.1:{dead}; }}
    location /scgi {{ scgi_pass 127.0.0.1:{dead}; }}
    location /grpc {{ grpc_pass grpc://127.0.0.1:{dead}; }}
    location /memc {{ set $memcached_key $uri; memcached_pass 127.0.0.1:{dead}; }}
    location /crash {{ proxy_pass http://{crash.address}; }}
    location /reset {{ proxy_pass http://{reset.address}; }}
    location /invalid {{ proxy_pass http://{invalid.address}; }}
}}
""")
        statuses = {path: stack.request(path).status
                    for path in ("/proxy", "/fcgi", "/uwsgi", "/scgi", "/grpc", "/memc", "/crash",
                                 "/reset", "/invalid")}
        stack.stop()
        out = subprocess.run([WHY502, "classify", "--format", "jsonl", str(stack.p.error_log)],
                             capture_output=True, text=True, timeout=60, check=False)
        log_text = stack.p.error_log.read_text()
    assert out.returncode == 1, out.stderr
    records = [json.loads(x) for x in out.stdout.splitlines()]
    by_request = {r["request"].split()[1]: r for r in records if r["request"]}
    assert all(statuses[p] == 502 for p in ("/proxy", "/fcgi", "/uwsgi", "/scgi", "/grpc", "/memc")), statuses

    def sym(path: str) -> tuple[str, int | None, str]:
        r = by_request[path]
        return r["symptom"], r["status"], r["upstream"].split("://")[0]

    assert sym("/proxy") == ("connection-refused", 502, "http")
    assert sym("/fcgi") == ("socket-not-found", 502, "fastcgi")
    assert sym("/uwsgi") == ("connection-refused", 502, "uwsgi")
    assert sym("/scgi") == ("connection-refused", 502, "scgi")
    assert sym("/grpc") == ("connection-refused", 502, "grpc")
    assert sym("/memc") == ("connection-refused", 502, "memcached")
    assert by_request["/crash"]["symptom"] in {"premature-close", "connection-reset"}
    assert by_request["/reset"]["symptom"] in {"connection-reset", "premature-close"}
    assert sym("/invalid") == ("invalid-response", 502, "http")
    # every [error]/[crit] line nginx wrote for these requests was recognised
    failing = [ln for ln in log_text.splitlines() if "[error]" in ln or "[crit]" in ln]
    assert len(records) >= len(failing)
    assert {r["line"] for r in records} <= set(range(1, len(log_text.splitlines()) + 1))
