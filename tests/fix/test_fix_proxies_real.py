"""``why502 fix --apply`` on a real HAProxy (master-worker, as Debian's unit runs it) and a real
Apache httpd: a lab fault diagnosed, fixed through the proxy's own config test and reload, and
verified; a broken change refused by ``haproxy -c`` / ``apache2 -t`` and rolled back while the
proxy keeps serving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fix.reports import journal_states, report_for
from tests.support.clirun import why502
from why502.app.fix.service import children, service_class
from why502.lab.runtime import Stack
from why502.lab.runtime.machine import find_haproxy
from why502.proxies.apache.lab import apache_paths, find_apache
from why502.proxies.haproxy.lab import haproxy_paths

pytestmark = pytest.mark.real


def _diagnose(config: Path, error_log: Path, out: Path) -> dict[str, object]:
    res = why502("diagnose", "--offline", "--config", str(config), "--error-log", str(error_log),
                 "--format", "json", "-o", str(out))
    assert res.returncode == 1, res.stdout + res.stderr
    finding: dict[str, object] = json.loads(out.read_text())["findings"][0]
    return finding


@pytest.mark.skipif(find_haproxy() is None, reason="haproxy is not installed")
def test_haproxy_timeout_fix_applied_with_haproxy_c_and_sigusr2(tmp_path: Path) -> None:
    with Stack() as stack:
        app = stack.add_backend("slow", delay=1.0)
        proc = stack.start_haproxy(f"server web1 127.0.0.1:{app.port}", defaults="timeout server 400ms",
                                   master_worker=True)
        conf, log, _sock = haproxy_paths(stack)
        assert stack.request("/slow", timeout=5).status == 504
        finding = _diagnose(conf, log, tmp_path / "report.json")
        assert finding["cause"] == "backend-too-slow"
        workers = children(proc.pid)
        assert workers
        url = f"http://{stack.listen}/again"
        state = tmp_path / "state"
        # a change haproxy -c rejects: rolled back before any reload, the master keeps its worker
        text = conf.read_text()
        bad = report_for(conf, text.replace("timeout server 400ms", "timeout server soon"),
                         tmp_path / "bad.json", proxy="haproxy")
        res = why502("fix", str(bad), "--apply", "--yes", "--state-dir", str(state))
        assert res.returncode == 1, res.stdout + res.stderr
        assert "haproxy -c rejected the change" in res.stdout and "restored from backup" in res.stdout
        assert conf.read_text() == text and children(proc.pid) == workers
        # the fix diagnose proposed: tested, reloaded by SIGUSR2 to the master, verified
        res = why502("fix", str(tmp_path / "report.json"), "--apply", "--yes", "--state-dir", str(state),
                     "--verify-for", "1", "--verify-url", url)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "haproxy -c: configuration test passed" in res.stdout
        assert "reloaded: SIGUSR2 to the haproxy master" in res.stdout and "verified" in res.stdout
        assert "timeout server 400ms" not in conf.read_text()
        assert proc.alive() and children(proc.pid) - workers  # same master, a new worker
        assert stack.request("/after", timeout=5).status == 200
        assert journal_states(state) == ["rolled-back", "applied"]


@pytest.mark.skipif(find_apache() is None, reason="apache2 is not installed")
def test_apache_timeout_fix_applied_with_apache2_t_and_graceful(tmp_path: Path) -> None:
    with Stack() as stack:
        app = stack.add_backend("slow", delay=1.5)
        proc = stack.start_apache(f"ProxyTimeout 1\nProxyPass / http://{app.address}/\n")
        conf, error_log, _access = apache_paths(stack)
        # mod_proxy_http answers 502 when the status line does not come within the timeout
        assert stack.request("/slow", timeout=5).status in (502, 504)
        finding = _diagnose(conf, error_log, tmp_path / "report.json")
        assert finding["cause"] == "backend-too-slow"
        generation = children(proc.pid)
        apache = find_apache()
        assert apache is not None  # what fix may write: the files httpd itself lists (DUMP_INCLUDES)
        service = service_class("apache")  # its Hooks.fix_service, proxies/apache/fix.py
        assert service is not None and str(conf) in service(apache, str(conf)).dumped_files()
        url = f"http://{stack.listen}/again"
        state = tmp_path / "state"
        text = conf.read_text()
        bad = report_for(conf, text.replace("ProxyTimeout 1", "ProxyTimeout"), tmp_path / "bad.json",
                         proxy="apache")
        res = why502("fix", str(bad), "--apply", "--yes", "--state-dir", str(state))
        assert res.returncode == 1, res.stdout + res.stderr
        assert "apache2 -t rejected the change" in res.stdout and "restored from backup" in res.stdout
        assert conf.read_text() == text and proc.alive()
        assert stack.request("/still", timeout=5).status in (502, 504)  # the old config still serves
        res = why502("fix", str(tmp_path / "report.json"), "--apply", "--yes", "--state-dir", str(state),
                     "--verify-for", "2", "--verify-url", url)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "apache2 -t: configuration test passed" in res.stdout
        assert "graceful restart" in res.stdout and "verified" in res.stdout
        assert "ProxyTimeout 1\n" not in conf.read_text()
        assert proc.alive() and children(proc.pid) - generation
        assert stack.request("/after", timeout=5).status == 200
        assert journal_states(state) == ["rolled-back", "applied"]
