"""``why502 mitigate`` on a real nginx on loopback: a failing server taken out (``down``, through
fix's transaction) while a client loop runs, reverted byte for byte once it recovers; a fallback
when every server is down; the guards (a server that is not failing, the last serving server)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.fix.reports import report_for
from tests.mitigate.traffic import Traffic
from tests.support.clirun import why502
from tests.support.paths import ROOT_DIR
from why502.findings.results import MitigationPlan
from why502.lab.runtime import Stack, find_nginx

SCHEMAS = ROOT_DIR / "src" / "why502" / "schemas"

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]


def two_servers(stack: Stack, a: str, b: str) -> Path:
    """nginx in front of upstream ``app`` {a, b}; ``proxy_next_upstream off`` (a common setting
    where requests must not be sent twice) so a failing server's errors reach the client."""
    stack.start_nginx(f"""
        upstream app {{
            server {a};
            server {b};
        }}
        server {{
            listen {stack.listen};
            location / {{
                proxy_pass http://app;
                proxy_next_upstream off;
            }}
        }}
    """)
    return stack.p.nginx_conf


def mitigate(*args: str) -> tuple[int, str]:
    res = why502("mitigate", *args)
    return res.returncode, res.stdout + res.stderr


def test_a_resetting_server_is_taken_out_then_put_back(tmp_path: Path) -> None:
    with Stack() as stack:
        bad = stack.add_backend("reset", name="a")
        good = stack.add_backend("ok", name="b")
        conf = two_servers(stack, bad.address, good.address)
        original, mode = conf.read_bytes(), conf.stat().st_mode
        state = str(tmp_path / "state")
        url = f"http://{stack.listen}/verify"
        common = ("--config", str(conf), "--state-dir", state)
        with Traffic(stack) as traffic:
            traffic.phase("before", settle=40)
            rc, out = mitigate(*common)  # dry run
            assert rc == 1, out
            assert "take-out: nginx group app: " + bad.address in out
            assert " down;  # why502 mitigation M" in out
            assert conf.read_bytes() == original
            # the same dry run as a typed result (schemas/mitigation-plan.schema.json)
            res = why502("mitigate", *common, "--format", "json")
            assert res.returncode == 1, res.stderr
            doc = json.loads(res.stdout)
            jsonschema.validate(doc, json.loads((SCHEMAS / "mitigation-plan.schema.json").read_text()))
            (take_out,) = [g for g in doc["stopgaps"] if g["kind"] == "take-out"]
            assert take_out["servers"] == [bad.address] and not take_out["refused"], doc
            assert MitigationPlan.from_dict(doc).to_dict() == doc and conf.read_bytes() == original
            # the guard: b serves, so it is not taken out
            rc, out = mitigate(*common, "--server", good.address, "--apply", "--yes", "--verify-url", url)
            assert rc == 3 and "is not failing" in out and conf.read_bytes() == original, out
            # no finding says the backend is slow: no timeout raise; and never without a verification
            rc, out = mitigate(*common, "--raise-timeout", "5")
            assert rc == 3 and "no finding says app is slower" in out, out
            rc, out = mitigate(*common, "--apply", "--yes")
            assert rc == 2 and "always verified" in out and conf.read_bytes() == original, out
            traffic.phase("applying", settle=0)
            rc, out = mitigate(*common, "--apply", "--yes", "--verify-for", "2", "--verify-url", url)
            assert rc == 0, out
            assert "nginx -t: configuration test passed" in out and "verified" in out and "in force" in out
            assert f"server {bad.address} down;" in conf.read_text()
            traffic.phase("during", settle=100)
            listing = mitigate("--list", "--state-dir", state)[1]
            assert "take-out" in listing and bad.address in listing and "since" in listing
            assert "now: still failing" in listing
            stack.stop_process(bad.process)  # the server recovers
            stack.add_backend("ok", name="a-recovered", port=bad.port)
            listing = mitigate("--list", "--state-dir", state)[1]
            assert "answers again" in listing and "why502 mitigate --revert M" in listing
            traffic.phase("recovered, still out", settle=40)
            traffic.phase("reverting", settle=0)
            rc, out = mitigate("--revert", "--state-dir", state)
            assert rc == 0, out
            assert conf.read_bytes() == original and conf.stat().st_mode == mode
            traffic.phase("after revert", settle=100)
        traffic.report("nginx take-out")
        assert traffic.errors("before") > 0
        assert traffic.errors("during") == 0 and traffic.errors("recovered, still out") == 0
        assert traffic.counts["during"]["ok from a"] == 0
        assert traffic.counts["recovered, still out"]["ok from a-recovered"] == 0  # still taken out
        assert traffic.errors("after revert") == 0
        after = traffic.counts["after revert"]
        assert after["ok from a-recovered"] > 0 and after["ok from b"] > 0  # both serve again
        assert "no mitigation in force" in mitigate("--list", "--state-dir", state)[1]
        states = [json.loads(p.read_text())["state"] for p in sorted(Path(state).glob("*/journal.json"))]
        assert states == ["undone"]


def test_every_server_down_gets_the_fallback_and_revert_restores_the_bytes(tmp_path: Path) -> None:
    with Stack() as stack:
        one = stack.add_backend("reset", name="a")
        two = stack.add_backend("reset", name="b")
        conf = two_servers(stack, one.address, two.address)
        original = conf.read_bytes()
        state = str(tmp_path / "state")
        url = f"http://{stack.listen}/verify"
        common = ("--config", str(conf), "--state-dir", state)
        with Traffic(stack) as traffic:
            traffic.phase("before", settle=20)
            # the last serving server: taking out a when b fails too leaves nobody to serve
            rc, out = mitigate(*common, "--server", one.address, "--apply", "--yes", "--verify-url", url)
            assert rc == 3 and "no serving server" in out and conf.read_bytes() == original, out
            rc, out = mitigate(*common)
            assert rc == 1 and "fallback: nginx group app" in out, out
            assert "will serve: /: HTTP 503, Retry-After: 60" in out
            traffic.phase("applying", settle=0)
            rc, out = mitigate(*common, "--apply", "--yes", "--verify-for", "2", "--verify-url", url)
            assert rc == 0, out
            traffic.phase("during", settle=60)
            resp = stack.request("/page")
            assert resp.status == 503 and resp.headers.get("Retry-After") == "60"
            assert b"temporarily unavailable" in resp.body
            traffic.phase("reverting", settle=0)
            rc, out = mitigate("--revert", "--state-dir", state)
            assert rc == 0, out
            assert conf.read_bytes() == original
            traffic.phase("after revert", settle=20)
        traffic.report("nginx fallback")
        assert traffic.errors("before") > 0
        assert traffic.errors("during") == 0 and traffic.counts["during"]["fallback"] > 0
        assert traffic.errors("after revert") > 0  # the fallback is gone: the backends still fail


def test_the_3am_flow_revert_after_a_fix_keeps_the_fix(tmp_path: Path) -> None:
    """diagnose -> mitigate -> fix -> mitigate --revert: the fix changed the same file after the
    mitigation, so the revert takes out only the mitigation's own lines and keeps the fix."""
    with Stack() as stack:
        bad = stack.add_backend("reset", name="a")
        good = stack.add_backend("ok", name="b")
        conf = two_servers(stack, bad.address, good.address)
        original = conf.read_text()
        state = str(tmp_path / "state")
        url = f"http://{stack.listen}/verify"
        rc, out = mitigate("--config", str(conf), "--state-dir", state, "--apply", "--yes",
                           "--verify-for", "1", "--verify-url", url)
        assert rc == 0, out
        timeout = "proxy_next_upstream off;\n        proxy_read_timeout 30s;"
        report = report_for(conf, conf.read_text().replace("proxy_next_upstream off;", timeout),
                            tmp_path / "fix.json")
        res = why502("fix", str(report), "--config", str(conf), "--apply", "--yes", "--state-dir", state,
                     "--verify-for", "1", "--verify-url", url)
        assert res.returncode == 0, res.stdout + res.stderr
        stack.stop_process(bad.process)  # the server recovers
        stack.add_backend("ok", name="a-recovered", port=bad.port)
        rc, out = mitigate("--revert", "--state-dir", state)
        # the sentence may wrap where the mitigation's id (its length varies) ends a line
        assert rc == 0 and "taking out only its own lines" in " ".join(out.split()), out
        assert conf.read_text() == original.replace("proxy_next_upstream off;", timeout)
        served = {r.body for r in stack.requests("/x", count=6)}
        assert served == {b"ok from a-recovered\n", b"ok from b\n"}


def test_a_slow_backend_gets_a_temporary_timeout_labelled_as_the_mitigation(tmp_path: Path) -> None:
    with Stack() as stack:
        app = stack.add_backend("slow", name="app", delay=1.5)
        stack.start_nginx(f"""
            upstream app {{
                server {app.address};
            }}
            server {{
                listen {stack.listen};
                location / {{
                    proxy_pass http://app;
                    proxy_read_timeout 1s;
                }}
            }}
        """, error_level="info")
        conf = stack.p.nginx_conf
        original = conf.read_bytes()
        assert stack.request("/r").status == 504
        report = tmp_path / "report.json"
        diag = why502("diagnose", "--offline", "--nginx-conf", str(conf), "--error-log",
                      str(stack.p.error_log), "--format", "json", "-o", str(report))
        assert diag.returncode == 1, diag.stderr
        assert json.loads(report.read_text())["findings"][0]["cause"] == "backend-too-slow"
        state = str(tmp_path / "state")
        url = f"http://{stack.listen}/verify"
        common = (str(report), "--config", str(conf), "--state-dir", state)
        rc, out = mitigate(*common, "--raise-timeout", "5")
        assert rc == 1 and "timeout: nginx group app" in out and "proxy_read_timeout 1s -> 5s" in out, out
        rc, out = mitigate(*common, "--raise-timeout", "5", "--apply", "--yes", "--verify-for", "1",
                           "--verify-url", url)
        assert rc == 0, out
        text = conf.read_text()
        assert "proxy_read_timeout 5s;" in text and "proxy_read_timeout 1s;" not in text
        assert "# why502 mitigation M" in text and ": temporary, was 1s" in text
        assert stack.request("/r").status == 200
        rc, out = mitigate("--revert", "--state-dir", state)
        assert rc == 0, out
        assert conf.read_bytes() == original and stack.request("/r").status == 504
