"""``why502 fix --apply`` on a real Caddy (Debian's package) on 127.0.0.1, its admin API on a
random loopback port, in a temp dir (lab runtime, stopped by PID): a change ``caddy validate``
rejects is rolled back before any reload; diagnose's timeout fix is validated, reloaded through
the admin API (``caddy reload --address``), verified, and the running Caddy serves it (its
``GET /config/`` and a request that now gets 200); ``--undo`` puts the bytes and the old
behaviour back; lint's W502-037 fix is applied and undone by its ID."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.fix.reports import journal_states, report_for
from tests.support.clirun import why502
from why502.lab.runtime import Stack, free_port
from why502.lab.runtime.client import request
from why502.lab.runtime.processes import can_connect, wait_for

pytestmark = [pytest.mark.real]


def _running_config(admin: int) -> str:
    """What the running Caddy runs: its admin API's ``GET /config/`` (loopback)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/config/", timeout=5) as resp:
        return str(resp.read().decode())


def test_caddy_fix_validate_reload_verify_undo_and_rollback(tmp_path: Path) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy)")
    with Stack() as stack:
        slow = stack.add_backend("slow", delay=1.5)
        one, two = stack.add_backend("ok", name="one"), stack.add_backend("ok", name="two")
        port, admin = free_port(), free_port()
        conf = stack.write_file("Caddyfile", f"""{{
	admin 127.0.0.1:{admin}
	auto_https off
}}

http://127.0.0.1:{port} {{
	handle /slow* {{
		reverse_proxy {slow.address} {{
			transport http {{
				response_header_timeout 1s
			}}
		}}
	}}
	handle /multi* {{
		reverse_proxy {one.address} {two.address}
	}}
}}
""")
        home = stack.p.root
        proc = stack.spawn("caddy", ["env", f"XDG_CONFIG_HOME={home}", f"XDG_DATA_HOME={home}", caddy,
                                     "run", "--config", str(conf), "--adapter", "caddyfile"])
        wait_for(lambda: can_connect(f"127.0.0.1:{port}"), proc, "caddy")
        host = f"127.0.0.1:{port}"
        assert request(port, "/slow", timeout=10, host=host).status == 504
        errors = stack.p.root / "logs" / "caddy.out"
        assert stack.wait_for_log(errors, "timeout awaiting response headers")
        report = tmp_path / "report.json"
        diag = why502("diagnose", "--config", str(conf), "--error-log", str(errors), "--format", "json",
                      "-o", str(report))
        assert diag.returncode == 1, diag.stdout + diag.stderr
        findings = json.loads(report.read_text())["findings"]
        finding = next(f for f in findings if f["cause"] == "backend-too-slow")
        assert finding["fix"]["file"] == str(conf)
        original = conf.read_bytes()
        state = tmp_path / "state"

        # a change caddy validate rejects: restored before any reload, the old config still runs
        bad = report_for(conf, conf.read_text().replace("response_header_timeout 1s",
                                                        "response_header_timeout soon"),
                         tmp_path / "bad.json", proxy="caddy")
        res = why502("fix", str(bad), "--apply", "--yes", "--state-dir", str(state))
        assert res.returncode == 1, res.stdout + res.stderr
        assert "caddy validate rejected the change" in res.stdout and "restored from backup" in res.stdout
        assert conf.read_bytes() == original and proc.alive()
        assert '"response_header_timeout":1000000000' in _running_config(admin)

        # diagnose's fix: the report's config is the running Caddy's (found by its --config)
        url = f"http://{host}/slow"
        dry = why502("fix", str(report))
        assert dry.returncode == 1 and "caddy reload" not in dry.stdout.split("Not config changes")[-1]
        res = why502("fix", str(report), "--apply", "--yes", "--only", "backend-too-slow", "--state-dir",
                     str(state), "--verify-for", "1", "--verify-url", url)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "caddy validate: configuration test passed" in res.stdout
        assert f"reloaded: caddy reload (admin API 127.0.0.1:{admin})" in res.stdout
        assert "verified" in res.stdout
        assert "response_header_timeout 1s" not in conf.read_text()
        assert '"response_header_timeout":1000000000' not in _running_config(admin)
        assert request(port, "/slow", timeout=10, host=host).status == 200  # the new config serves
        assert journal_states(state) == ["rolled-back", "applied"]

        undo = why502("fix", "--undo", "--state-dir", str(state))
        assert undo.returncode == 0, undo.stdout + undo.stderr
        assert "caddy validate: configuration test passed" in undo.stdout
        assert "reloaded: caddy reload" in undo.stdout
        assert conf.read_bytes() == original
        assert request(port, "/slow", timeout=10, host=host).status == 504  # the old config is live again
        assert journal_states(state) == ["rolled-back", "undone"]

        # lint's W502-037 (several upstreams, no retry): lb_try_duration, applied, undone by its ID
        res = why502("fix", "--lint", str(conf), "--only", "W502-037", "--apply", "--yes", "--state-dir",
                     str(state), "--verify-for", "1", "--verify-url", f"http://{host}/multi")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "lb_try_duration" in conf.read_text() and '"try_duration"' in _running_config(admin)
        applied = [p.parent.name for p in sorted(state.glob("*/journal.json"))
                   if json.loads(p.read_text())["state"] == "applied"]
        assert len(applied) == 1
        undo = why502("fix", "--undo", applied[0], "--state-dir", str(state))
        assert undo.returncode == 0, undo.stdout + undo.stderr
        assert conf.read_bytes() == original and '"try_duration"' not in _running_config(admin)
        assert proc.alive()
