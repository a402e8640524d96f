"""``why502 mitigate`` on a real Apache httpd: a resetting balancer member disabled
(``status=+D``) through fix's transaction (``apache2 -t``, graceful restart, verify) while a
client loop runs, and the config restored byte for byte on revert."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mitigate.traffic import Traffic
from tests.support.clirun import why502
from why502.lab.runtime import Stack
from why502.proxies.apache.lab import apache_paths, find_apache

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_apache() is None, reason="apache2 is not installed")]


def test_apache_balancer_member_disabled_then_restored(tmp_path: Path) -> None:
    with Stack() as stack:
        bad = stack.add_backend("reset", name="a")
        good = stack.add_backend("ok", name="b")
        stack.start_apache(f"<Proxy balancer://app>\nBalancerMember http://{bad.address}\n"
                           f"BalancerMember http://{good.address}\n</Proxy>\nProxyPass / balancer://app/\n")
        conf, _error_log, _access = apache_paths(stack)
        original = conf.read_bytes()
        state = str(tmp_path / "state")
        url = f"http://{stack.listen}/verify"
        common = ("--config", str(conf), "--proxy", "apache", "--state-dir", state)
        with Traffic(stack) as traffic:
            traffic.phase("before", settle=60)
            traffic.phase("applying", settle=0)
            res = why502("mitigate", *common, "--apply", "--yes", "--verify-for", "2", "--verify-url", url)
            assert res.returncode == 0, res.stdout + res.stderr
            assert "apache2 -t: configuration test passed" in res.stdout and "graceful restart" in res.stdout
            assert f"BalancerMember http://{bad.address} status=+D" in conf.read_text()
            traffic.phase("during", settle=100)
            stack.stop_process(bad.process)  # the server recovers
            stack.add_backend("ok", name="a-recovered", port=bad.port)
            traffic.phase("reverting", settle=0)
            res = why502("mitigate", "--revert", "--state-dir", state)
            assert res.returncode == 0, res.stdout + res.stderr
            assert conf.read_bytes() == original
            traffic.phase("after revert", settle=100)
        traffic.report("Apache balancer member")
        assert traffic.errors("before") > 0
        assert traffic.errors("during") == 0 and traffic.counts["during"]["ok from a"] == 0
        assert traffic.errors("after revert") == 0
        assert traffic.counts["after revert"]["ok from a-recovered"] > 0
