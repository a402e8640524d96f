"""An access log the config does not name (copied off the host, mounted at another path) is
read in the config's format its lines match.

Found by a sweep of the commands over the bench's logs (stop 68): ``stats --proxy apache
--config C LOG`` exited 3 with "none of the lines ... is a request in the log format (Apache
LogFormat combined) -- give --log-format or --config" although the config it was given holds
the ``LogFormat`` its ``CustomLog`` writes that log in, under another path; ``diagnose`` then said
"access log not used" and ``healthy: true`` of a log of 5xx.  nginx's ``stats`` took the first
``access_log``'s format, whichever format the file is in.  Scored before the change: both
commands refused the copied logs below (exit 3, and ``diagnose``'s access log unused).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

APACHE = FIXTURES_DIR / "recorded" / "apache-backend-crashed"

MAIN = """'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" \
"$http_user_agent"'"""
TIMED = """'$remote_addr [$time_local] "$request" $status $body_bytes_sent rt=$request_time \
urt="$upstream_response_time" ua="$upstream_addr" us="$upstream_status"'"""
NGINX_CONF = f"""events {{}}
http {{
  log_format main {MAIN};
  log_format timed {TIMED};
  server {{ listen 127.0.0.1:8080; access_log /var/log/nginx/site.log main;
           location / {{ proxy_pass http://127.0.0.1:9000; }} }}
  server {{ listen 127.0.0.1:8081; access_log /var/log/nginx/api.log timed;
           location / {{ proxy_pass http://127.0.0.1:9001; }} }}
}}
"""


def _timed_lines(n: int) -> str:
    statuses = ["200", "200", "502", "504", "200"]
    return "".join(
        f'10.0.0.{i % 200} [21/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] "GET /x HTTP/1.1" '
        f'{statuses[i % 5]} 12 rt=0.{i % 900 + 1:03d} urt="0.100" ua="127.0.0.1:9001" '
        f'us="{statuses[i % 5]}"\n'
        for i in range(n))


def _statuses(log: Path) -> Counter[str]:
    return Counter(ln.split('" ')[1].split()[0] for ln in log.read_text().splitlines() if ln)


def test_an_apache_log_copied_elsewhere_is_read_in_the_configs_format(tmp_path: Path,
                                                                      run_main: RunMain) -> None:
    log = tmp_path / "copied-from-web1.log"
    shutil.copy(APACHE / "apache-access.log", log)
    code, out, err = run_main("stats", "--proxy", "apache", "--config", str(APACHE / "apache2.conf"),
                              str(log), "--format", "json", "--no-progress")
    assert code == 1, err  # its 5xx
    doc = json.loads(out)
    assert doc["requests"] == doc["lines"] == sum(_statuses(log).values()) and doc["unparsed"] == 0
    assert doc["by_status"] == dict(_statuses(log))


def test_diagnose_uses_the_copied_apache_log(tmp_path: Path, run_main: RunMain) -> None:
    log = tmp_path / "copied-from-web1.log"
    shutil.copy(APACHE / "apache-access.log", log)
    code, out, err = run_main("diagnose", "--offline", "--proxy", "apache", "--config",
                              str(APACHE / "apache2.conf"), "--access-log", str(log), "--format", "json")
    doc = json.loads(out)
    assert doc["inputs"]["access_logs"] == [str(log)], doc["diagnostics"]
    assert not any("access log not used" in d["message"] for d in doc["diagnostics"])
    assert doc["healthy"] is False and code == 1, err


def test_an_nginx_log_no_access_log_names_is_read_in_the_format_it_matches(
        tmp_path: Path, run_main: RunMain) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF)
    log = tmp_path / "api-from-lb2.log"
    log.write_text(_timed_lines(300))
    code, out, err = run_main("stats", "--config", str(conf), str(log), "--format", "json", "--no-progress")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["format_name"] == "timed" and doc["requests"] == 300 and doc["unparsed"] == 0
    assert doc["by_status"] == {"200": 180, "502": 60, "504": 60}
    assert doc["notes"][0] == ("log format: log_format timed (no access_log writes api-from-lb2.log: "
                               "the config's format 200/200 of its first lines match)")


def test_the_access_log_that_names_the_file_still_decides(tmp_path: Path, run_main: RunMain) -> None:
    """The config says what nginx wrote to a file it names: its format, whatever the lines."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF)
    log = tmp_path / "site.log"  # written by the first server, in ``main``
    log.write_text(_timed_lines(50))
    code, _out, err = run_main("stats", "--config", str(conf), str(log), "--no-progress")
    assert code == 3
    assert "log_format main (access_log /var/log/nginx/site.log at" in err


def test_a_log_in_none_of_the_configs_formats_is_refused_as_before(tmp_path: Path, run_main: RunMain) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF)
    log = tmp_path / "other.log"
    log.write_text("".join(f"{i} something else entirely\n" for i in range(40)))
    code, _out, err = run_main("stats", "--config", str(conf), str(log), "--no-progress")
    assert code == 3
    assert "log_format main (first access_log /var/log/nginx/site.log at" in err
    assert err.count("\n") == 1  # one line, no traceback


def test_a_named_access_log_no_line_of_which_is_read_exits_3_for_every_proxy(
        tmp_path: Path, run_main: RunMain) -> None:
    """``diagnose --access-log F`` when no line of F is a request in the format it is read in,
    and nothing else gave a finding: exit 3, the note naming the user's format (not "healthy"
    and exit 0).  Apache's and HAProxy's logs, read by their plug-ins, said ``healthy: true``
    and exited 0 (scored before the change), where nginx's exited 3."""
    log = tmp_path / "garbage.log"
    log.write_text("".join(f"garbage line {i} with nothing\n" for i in range(50)))
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF)
    runs = {
        "nginx": ("--config", str(conf)),
        "apache": ("--proxy", "apache", "--config", str(APACHE / "apache2.conf")),
        "haproxy": ("--proxy", "haproxy", "--config", str(tmp_path / "none.cfg")),
    }
    (tmp_path / "none.cfg").write_text("defaults\n  mode http\n")
    for proxy, extra in runs.items():
        code, out, err = run_main("diagnose", "--offline", *extra, "--access-log", str(log),
                                  "--format", "json")
        assert code == 3, (proxy, err)
        notes = [d["message"] for d in json.loads(out)["diagnostics"]
                 if "access log not used" in d["message"]]
        assert len(notes) == 1, (proxy, notes)
        assert "none of the 50 lines of" in notes[0] and "garbage.log" in notes[0]
        named = {"nginx": "log_format main", "apache": "Apache LogFormat %h", "haproxy": "HAProxy httplog"}
        assert named[proxy] in notes[0], notes[0]
