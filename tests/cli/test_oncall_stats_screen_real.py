"""``why502 stats`` as the README prints it, on an 80x24 terminal (issue 31): a real nginx in
front of a dead backend and a live one, its access log read in a real ``tmux`` pane of 80
columns.  The Upstreams table was squeezed to nothing there (the address and location columns
zero wide, ``2.01s`` cut to ``2.``); now every line fits, each address and number is whole, the
columns left out are named, and ``--width 120`` and ``--format json`` keep every field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.screen import WIDTH, have_tmux, pane
from why502.lab.runtime import Stack, find_nginx, free_port

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(not have_tmux(), reason="needs tmux"),
              pytest.mark.skipif(find_nginx() is None, reason="needs nginx")]


def _upstreams(text: str) -> list[str]:
    """The lines of the Upstreams table (its title to the next blank-led section)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Upstreams"))
    end = next((i for i in range(start + 1, len(lines))
                if lines[i] and not lines[i][0].isspace() and lines[i][0].isupper()
                and not lines[i].startswith(("$upstream", "Upstreams"))), len(lines))
    return lines[start:end]


def test_stats_upstreams_fit_80_columns_and_keep_every_field_at_120(tmp_path: Path) -> None:
    with Stack() as web:
        dead = free_port()
        slow = web.add_backend("ok")
        web.start_nginx(f"server {{ listen {web.listen};\n"
                        f"  location /api/ {{ proxy_pass http://127.0.0.1:{dead}; }}\n"
                        f"  location /slow/ {{ proxy_pass http://{slow.address}; }} }}")
        failed = [r.status for r in web.requests("/api/orders", count=12)]
        ok = [r.status for r in web.requests("/slow/report", count=5)]
        assert failed == [502] * 12 and ok == [200] * 5  # the clients' own counts
        cmd = (f"why502 stats {web.p.access_log} --config {web.p.nginx_conf} "
               f"--error-log {web.p.error_log}")
        with pane(tmp_path) as term:
            code = term.run(cmd)
            text = term.history()
        assert code == 1, f"exit {code}\n{text}"
        # every line the command wrote fits (the first is the prompt's echo of the command)
        assert all(len(line) <= WIDTH for line in text.splitlines()[1:]), text
        table = _upstreams(text)
        flat = " ".join(table)
        assert f"127.0.0.1:{dead}" in flat and slow.address in flat, table
        assert "/api/" in flat and "/slow/" in flat, table
        row = next(line for line in table if line.startswith(f"127.0.0.1:{dead}"))
        assert row.split()[1:4] == ["12", "12", "12"], row  # attempts, failed, 5xx: whole numbers
        slow_row = next(line for line in table if line.startswith(slow.address))
        assert re.fullmatch(r"\d+(ms|\.\d\ds)", slow_row.split()[4]), slow_row  # p95: a time, whole
        assert any("not shown at 80 columns: p50, p99" in line for line in text.splitlines()), text
        # piped: 80 columns too (no --width)
        piped = why502("stats", str(web.p.access_log), "--config", str(web.p.nginx_conf), "--no-progress")
        assert all(len(line) <= 80 for line in piped.stdout.splitlines()), piped.stdout
        assert [line.rstrip() for line in _upstreams(piped.stdout)] == _upstreams(text)
        # 120 columns: every column, no note
        wide = why502("stats", str(web.p.access_log), "--config", str(web.p.nginx_conf), "--no-progress",
                      "--width", "120")
        assert all(len(line) <= 120 for line in wide.stdout.splitlines()), wide.stdout
        head = " ".join(_upstreams(wide.stdout)[:4])
        for col in ("attempts", "failed", "rescued", "p50", "p95", "p99", "max", ">=80%"):
            assert col in head, head
        assert "not shown" not in wide.stdout
        # JSON: every field, whatever the width
        data = json.loads(why502("stats", str(web.p.access_log), "--config", str(web.p.nginx_conf),
                                 "--no-progress", "--format", "json").stdout)
        up = next(u for u in data["upstreams"] if u["address"] == f"127.0.0.1:{dead}")
        assert (up["attempts"], up["failed_attempts"], up["requests_5xx"]) == (12, 12, 12)
        assert {"p50", "p95", "p99", "max"} <= set(up["response_time"]) and "rescued_failures" in up
