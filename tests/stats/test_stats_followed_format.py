"""``stats`` on an access log whose lines start in a known format and go on after it, given no
format (``app.stats.formats.guess_followed``).

Apache's ``%h %l %u %t "%r" %>s %b %D`` (the real logs recorded from ``apache2`` under
``tests/fixtures``) and nginx's ``combined`` with ``rt=$request_time`` appended are formats a
config names and a user on call often does not pass.  ``stats`` refused them: "none of the lines
matches the log format (guessed: why502 (0/200 ...))", exit 3 on each of the six recorded
Apache logs (scored before the change); it now reads the known fields and says which fields it
did not name.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

APACHE_ACCESS = sorted([*FIXTURES_DIR.glob("recorded/apache-*/apache-access.log"),
                        *FIXTURES_DIR.glob("matrix-cells/apache-*/apache-access.log")])


def _statuses(log: Path) -> Counter[str]:
    return Counter(ln.split('" ')[1].split()[0] for ln in log.read_text().splitlines() if ln)


@pytest.mark.parametrize("log", APACHE_ACCESS, ids=lambda p: p.parent.name)
def test_a_real_apache_log_is_read_as_common_followed(log: Path, run_main: RunMain) -> None:
    code, out, err = run_main("stats", str(log), "--format", "json", "--no-progress")
    assert code == 1, err  # 5xx found
    doc = json.loads(out)
    want = _statuses(log)
    assert doc["requests"] == doc["lines"] == sum(want.values()) and doc["unparsed"] == 0
    assert doc["by_status"] == dict(want)
    assert doc["log_format"].endswith("$body_bytes_sent $unnamed_fields")


def test_the_text_report_says_what_it_guessed(run_main: RunMain) -> None:
    code, out, _err = run_main("stats", str(APACHE_ACCESS[0]), "--no-progress")
    assert code == 1
    assert "guessed: common followed by fields no predefined format names" in " ".join(out.split())


def test_combined_with_more_fields_is_combined_followed(tmp_path: Path, run_main: RunMain) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'10.0.0.{i} - - [21/Nov/2026:10:0{i % 10}:00 +0000] "GET /a/{i} HTTP/1.1" {st} 12 "-" "curl/8" '
        f'rt=0.{i:03d} cache=MISS\n' for i, st in enumerate([200, 502, 504, 200] * 5)))
    code, out, _err = run_main("stats", str(log), "--format", "json", "--no-progress")
    doc = json.loads(out)
    assert code == 1 and doc["requests"] == 20 and doc["by_status"] == {"200": 10, "502": 5, "504": 5}
    assert doc["log_format"].startswith('$remote_addr - $remote_user [$time_local] "$request" $status '
                                        '$body_bytes_sent "$http_referer" "$http_user_agent" $unnamed_fields')
    assert doc["first_time"] == "2026-11-21T10:00" and doc["last_time"] == "2026-11-21T10:09"


def test_a_log_in_full_combined_is_still_combined(tmp_path: Path, run_main: RunMain) -> None:
    log = tmp_path / "access.log"
    log.write_text('10.0.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 12 "-" "curl/8"\n' * 3)
    _code, out, err = run_main("stats", str(log), "--no-progress")
    assert "guessed: combined (3/3 first lines match)" in " ".join(out.split()), out + err


def test_a_few_followed_lines_are_not_enough(tmp_path: Path, run_main: RunMain) -> None:
    """Under half of the head in the known start: the log is not that format; the one-line error
    stays, saying which format was tried."""
    log = tmp_path / "access.log"
    log.write_text('10.0.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 12 4000\n'
                   + "something else entirely\n" * 3)
    code, _out, err = run_main("stats", str(log), "--no-progress")
    assert code == 3 and "none of the 4 lines of" in err
    assert "(guessed: why502 (0/4 first lines match))" in err
