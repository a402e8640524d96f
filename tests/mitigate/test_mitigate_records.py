"""The state record of ``why502 mitigate`` is input to ``--revert``: a damaged one (wrong type,
unknown state, writable by others) stops ``--list`` and ``--revert`` with one line, exit 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.app.mitigate import record


def _saved(state: Path) -> Path:
    m = record.Mitigation(record.new_mitigation_id(), "take-out", "nginx", "/etc/nginx/nginx.conf", "app",
                          ["127.0.0.1:8080"], "1 of 2 servers of app failing", "2026-11-23T03:00:00+00:00")
    record.save(state, m, record.IN_FORCE)
    return state / record.DIRECTORY / f"{m.id}.json"


def test_a_record_round_trips_and_is_listed(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    [m] = record.load_all(tmp_path)
    assert m.state == record.IN_FORCE and m.servers == ["127.0.0.1:8080"]
    res = why502("mitigate", "--list", "--state-dir", str(tmp_path))
    shown = " ".join(res.stdout.split())  # wrapped to 80 columns
    assert res.returncode == 0 and path.stem in res.stdout and "since 2026-11-23T03:00:00" in shown


@pytest.mark.parametrize("damage", [
    {"state": "on-fire"},
    {"servers": "127.0.0.1:8080"},
    {"runtime": [{"socket": "/run/haproxy.sock"}]},
    {"undo_diffs": {"relative.conf": "x"}},
])
def test_a_damaged_record_stops_list_and_revert_with_one_line(tmp_path: Path,
                                                             damage: dict[str, object]) -> None:
    path = _saved(tmp_path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, **damage}))
    for args in (["--list"], ["--revert"]):
        res = why502("mitigate", *args, "--state-dir", str(tmp_path))
        assert res.returncode == 3 and "damaged mitigation record" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_record_writable_by_others_is_not_trusted(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    path.chmod(0o666)
    res = why502("mitigate", "--revert", "--state-dir", str(tmp_path))
    assert res.returncode == 3 and "writable by others" in res.stderr
