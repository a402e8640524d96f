"""``why502 watch`` and mitigations: it says which are in force, says when the taken-out server
has answered for ``--revert-after`` seconds and gives the revert command (config untouched), and
reverts by itself only with ``--auto-revert`` (the config back byte for byte)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mitigate.test_mitigate_nginx_real import mitigate, two_servers
from tests.support.clirun import why502
from why502.lab.runtime import Stack, find_nginx

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]


def test_watch_says_when_to_revert_and_reverts_only_when_told(tmp_path: Path) -> None:
    with Stack() as stack:
        bad = stack.add_backend("reset", name="a")
        good = stack.add_backend("ok", name="b")
        conf = two_servers(stack, bad.address, good.address)
        original = conf.read_bytes()
        state = str(tmp_path / "state")
        rc, out = mitigate("--config", str(conf), "--state-dir", state, "--apply", "--yes",
                           "--verify-for", "1", "--verify-url", f"http://{stack.listen}/v")
        assert rc == 0, out
        mitigated = conf.read_bytes()
        watch = ("watch", "--offline", "--nginx-conf", str(conf), "--error-log", str(stack.p.error_log),
                 "--listen", "off", "--duration", "4", "--probe-interval", "0.5", "--revert-after", "1",
                 "--state-dir", state)
        res = why502(*watch)  # still failing: in force, nothing more to say
        assert "in force since" in res.stderr and "revert it" not in res.stderr, res.stderr
        stack.stop_process(bad.process)  # the server recovers
        stack.add_backend("ok", name="a-recovered", port=bad.port)
        res = why502(*watch)
        assert "answers again for" in res.stderr and "revert it: why502 mitigate --revert M" in res.stderr
        assert conf.read_bytes() == mitigated  # said, not done
        res = why502(*watch, "--auto-revert")
        assert "--auto-revert: reverted: mitigation M" in res.stderr, res.stderr
        assert conf.read_bytes() == original
        assert {r.body for r in stack.requests("/x", count=6)} == {b"ok from a-recovered\n", b"ok from b\n"}
