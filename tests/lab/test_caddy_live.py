"""A real Caddy (Debian's package) on 127.0.0.1 with its admin API on a random loopback port, in
front of a stopped, a slow and a resetting Python backend: ``why502 diagnose --config Caddyfile
--error-log`` reads the Caddyfile through ``caddy adapt`` and names, for each fault, the right
cause, the upstream and the Caddyfile line of its ``reverse_proxy`` -- a timeout and a reset whose
Go error names no upstream (``net/http: timeout awaiting response headers``, ``EOF``) are tied to
it by the request's route.  Processes run by the lab runtime (temp dir, random ports, stopped by
PID); requests are bounded."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import RunMain
from why502.lab.runtime import Stack, free_port
from why502.lab.runtime.client import request
from why502.lab.runtime.processes import can_connect, wait_for

pytestmark = [pytest.mark.real]


def test_caddyfile_diagnosis_names_cause_upstream_and_line(run_main: RunMain) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy)")
    with Stack() as stack:
        slow = stack.add_backend("slow", delay=3)
        reset = stack.add_backend("reset")
        dead_port, port, admin = free_port(), free_port(), free_port()
        conf = stack.write_file("Caddyfile", f"""{{
	admin 127.0.0.1:{admin}
	auto_https off
}}

http://127.0.0.1:{port} {{
	handle /dead* {{
		reverse_proxy 127.0.0.1:{dead_port}
	}}
	handle /slow* {{
		reverse_proxy {slow.address} {{
			transport http {{
				response_header_timeout 1s
			}}
		}}
	}}
	handle /reset* {{
		reverse_proxy {reset.address}
	}}
}}
""")
        home = stack.p.root
        proc = stack.spawn("caddy", ["env", f"XDG_CONFIG_HOME={home}", f"XDG_DATA_HOME={home}", caddy,
                                     "run", "--config", str(conf), "--adapter", "caddyfile"])
        wait_for(lambda: can_connect(f"127.0.0.1:{port}"), proc, "caddy")
        got = [request(port, p, timeout=10, host=f"127.0.0.1:{port}").status
               for p in ("/dead", "/slow", "/reset") * 2]
        assert got == [502, 504, 502] * 2
        errors = stack.p.root / "logs" / "caddy.out"
        assert stack.wait_for_log(errors, "connection reset by peer")
        code, out, err = run_main("diagnose", "--config", str(conf), "--error-log", str(errors),
                                  "--format", "json")
        lines = conf.read_text().splitlines()
    assert code == 1, err
    report = json.loads(out)
    assert report["inputs"]["proxy"] == "caddy" and report["inputs"]["config_source"] == "caddyfile"
    assert len(report["inputs"]["admin_upstreams"]) == 3  # the live admin API was read
    by_cause = {f["cause"]: f for f in report["findings"]}
    want = {"backend-not-running": f"127.0.0.1:{dead_port}", "backend-too-slow": slow.address,
            "backend-crashed": reset.address}
    for cause, upstream in want.items():
        f = by_cause[cause]
        assert f["upstream"] == upstream, (cause, f["upstream"])
        at = {(e["source"], e["line"]) for e in f["evidence"] if e["kind"] == "config"}
        # the reverse_proxy line of the upstream, or the timeout's own line
        said = [lines[ln - 1] for src, ln in at if src == str(conf) and ln]
        assert any(upstream in t or "response_header_timeout" in t for t in said), (cause, at)
    fix = by_cause["backend-too-slow"]["fix"]
    assert fix["file"] == str(conf) and "+\t\t\t\tresponse_header_timeout" in fix["diff"]
    assert fix["commands"][0] == f"caddy validate --config {conf}"
