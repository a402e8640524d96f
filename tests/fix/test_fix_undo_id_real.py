"""``fix --undo ID`` undoes that change set, an unknown ID is exit 3 (it was "nothing to undo",
exit 0), and ``--undo`` alone takes only this user's last change set (issue 31, item 7), through
the CLI against a real nginx started with ``-c`` on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fix.reports import journal_states
from tests.fix.test_fix_real import slow_site
from tests.support.clirun import why502
from why502.lab.runtime import Stack, find_nginx

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]


def test_undo_by_id_and_only_this_users_last(tmp_path: Path) -> None:
    with Stack() as stack:
        conf = slow_site(stack)
        original = conf.read_bytes()
        assert stack.request("/r").status == 504
        report = tmp_path / "report.json"
        diag = why502("diagnose", "--offline", "--config", str(conf), "--error-log", str(stack.p.error_log),
                      "--access-log", str(stack.p.access_log), "--format", "json", "-o", str(report))
        assert diag.returncode == 1, diag.stderr
        # item 5: the nginx runs with -c: the printed test and reload name that config
        commands = json.loads(report.read_text())["findings"][0]["fix"]["commands"]
        assert f"nginx -t -c {conf}" in commands and f"nginx -s reload -c {conf}" in commands
        assert "nginx -t" not in commands and "systemctl reload nginx" not in commands
        state = tmp_path / "state"
        res = why502("fix", str(report), "--apply", "--yes", "--state-dir", str(state), "--verify-for", "0")
        assert res.returncode == 0, res.stdout + res.stderr
        assert journal_states(state) == ["applied"]
        (cs_dir,) = [d for d in state.iterdir() if d.is_dir()]

        missing = why502("fix", "--undo", "nosuchid", "--state-dir", str(state))
        assert missing.returncode == 3 and "no change set nosuchid" in missing.stderr
        assert journal_states(state) == ["applied"] and conf.read_bytes() != original

        # the change set as another user's: --undo alone does not take it, --undo ID does
        jpath = cs_dir / "journal.json"
        data = json.loads(jpath.read_text())
        assert data["user"]  # recorded at apply
        data["user"] = "someone-else"
        jpath.write_text(json.dumps(data))
        mine = why502("fix", "--undo", "--state-dir", str(state))
        assert mine.returncode == 0 and "nothing to undo" in mine.stdout
        assert "1 of other users" in " ".join(mine.stdout.split()) and conf.read_bytes() != original

        named = why502("fix", "--undo", cs_dir.name, "--state-dir", str(state))
        assert named.returncode == 0, named.stdout + named.stderr
        assert f"undone: change set {cs_dir.name}" in named.stdout
        assert conf.read_bytes() == original and journal_states(state) == ["undone"]
        again = why502("fix", "--undo", cs_dir.name, "--state-dir", str(state))
        assert again.returncode == 3 and "not applied" in again.stderr
