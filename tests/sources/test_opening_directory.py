"""A directory named where a log is read, none of its files an edge's log: one line that says what
to give instead (``stats /var/log/nginx`` said only "is a directory"; sweep of stop 69)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunMain

NGINX = ('192.0.2.1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0"\n'
         '2026/11/21 10:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while '
         'connecting to upstream, client: 192.0.2.1, server: _, request: "GET / HTTP/1.1", '
         'upstream: "http://127.0.0.1:8080/", host: "x"\n')


@pytest.mark.parametrize("command", [("stats",), ("classify",), ("classify", "--format", "jsonl")])
def test_a_directory_of_nginx_logs_is_refused_in_one_line_that_says_what_to_give(
        command: tuple[str, ...], tmp_path: Path, run_main: RunMain) -> None:
    logs = tmp_path / "nginx"
    logs.mkdir()
    access, error = NGINX.splitlines(keepends=True)
    (logs / "access.log").write_text(access * 50)
    (logs / "error.log").write_text(error * 50)
    code, out, err = run_main(*command, str(logs))
    assert code == 3 and not out, (code, out)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"{logs}: is a directory" in lines[0] and "name the log files in it" in lines[0], lines[0]
