"""``why502 mitigate`` on a real HAProxy (master-worker, as Debian runs it): a resetting server
put in maintenance through the runtime API on the stats socket -- no reload (the master keeps its
pid and its worker), the config's bytes untouched -- while a client loop runs, and set ready
again on revert; a server that is not failing is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mitigate.traffic import Traffic
from tests.support.clirun import why502
from tests.support.monitoring import wait_until
from why502.app.fix.service import children
from why502.lab.runtime import Stack
from why502.lab.runtime.machine import find_haproxy
from why502.proxies.haproxy.config import load_haproxy
from why502.proxies.haproxy.lab import haproxy_paths
from why502.proxies.haproxy.source import server_states

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_haproxy() is None, reason="haproxy is not installed")]


def _status(conf: Path, server: str) -> str:
    states, _ = server_states(load_haproxy(str(conf)))
    return next(s.status for s in states if s.server == server)


def test_haproxy_server_put_in_maint_through_the_runtime_api_without_a_reload(tmp_path: Path) -> None:
    with Stack() as stack:
        bad = stack.add_backend("reset", name="a")
        good = stack.add_backend("ok", name="b")
        # no health check: HAProxy keeps sending to the resetting server (the case to mitigate)
        proc = stack.start_haproxy(f"server a {bad.address}\nserver b {good.address}", master_worker=True)
        conf, _log, _sock = haproxy_paths(stack)
        original = conf.read_bytes()
        # the master forks its worker after it is up (-W): under load the snapshot was taken
        # before the fork, an empty set that the worker then "changed"
        workers = wait_until(lambda: children(proc.pid), 30, "the master's worker")
        state = str(tmp_path / "state")
        url = f"http://{stack.listen}/verify"
        common = ("--config", str(conf), "--proxy", "haproxy", "--state-dir", state)
        with Traffic(stack) as traffic:
            traffic.phase("before", settle=60)
            res = why502("mitigate", *common)
            assert res.returncode == 1, res.stdout + res.stderr
            assert "runtime API: set server app/a state maint" in res.stdout and "app/b" not in res.stdout
            res = why502("mitigate", *common, "--server", "b", "--apply", "--yes", "--verify-url", url)
            assert res.returncode == 3 and "b of app is not failing" in res.stderr, res.stdout + res.stderr
            traffic.phase("applying", settle=0)
            res = why502("mitigate", *common, "--apply", "--yes", "--verify-for", "2", "--verify-url", url)
            assert res.returncode == 0, res.stdout + res.stderr
            assert "verified" in res.stdout and "in force" in res.stdout
            assert _status(conf, "a").startswith("MAINT")
            traffic.phase("during", settle=150)
            listing = why502("mitigate", "--list", "--state-dir", state).stdout
            assert "take-out" in listing and "runtime API" in listing and "now: still failing" in listing
            stack.stop_process(bad.process)  # the server recovers
            stack.add_backend("ok", name="a-recovered", port=bad.port)
            traffic.phase("recovered, still out", settle=40)
            traffic.phase("reverting", settle=0)
            res = why502("mitigate", "--revert", "--state-dir", state)
            assert res.returncode == 0, res.stdout + res.stderr
            assert not _status(conf, "a").startswith("MAINT")
            traffic.phase("after revert", settle=100)
        traffic.report("HAProxy runtime API")
        assert conf.read_bytes() == original  # nothing written to the config
        assert proc.alive() and children(proc.pid) == workers  # no reload: same master, same worker
        assert traffic.errors("before") > 0
        assert traffic.errors("during") == 0 and traffic.counts["during"]["ok from a"] == 0
        assert traffic.counts["recovered, still out"]["ok from a-recovered"] == 0
        after = traffic.counts["after revert"]
        assert traffic.errors("after revert") == 0
        assert after["ok from a-recovered"] > 0 and after["ok from b"] > 0
