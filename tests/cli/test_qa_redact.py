"""Credentials never reach a report unless asked: a real config with an ``Authorization`` header,
an API key, a cookie and a database password, and logs whose requests and referrers carry an
access token and a session ID, through every command and format as a user runs them.

Each test names the output it guards; the redaction itself is one pass (``findings.redact``)
run where a result becomes output (``cli.output.for_output``, watch's diagnosis).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.paths import FIXTURES_DIR
from why502.app.watch.alerts import alert_of
from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.incidents import Incident, Rules
from why502.findings.model import Diagnostic
from why502.reporters.json.report import load_schema

SLOW = FIXTURES_DIR / "recorded" / "backend-too-slow"
BASIC = "c2VjcmV0dXNlcjpodW50ZXIy"
API_KEY = "AKV-9f8e7d6c5b4a"
COOKIE = "COOKIEVAL123"
DB_PASSWORD = "hunter2pass"
TOKEN = "TOKVAL-abc123xyz"
SESSION = "SESSVAL9876"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX3NlY3JldA"
CONFIG_SECRETS = (BASIC, API_KEY, COOKIE, DB_PASSWORD)
SECRETS = (*CONFIG_SECRETS, TOKEN, SESSION, JWT)
NOTICE = "credential values were redacted"


def site_config(tmp: Path) -> str:
    """A config ``nginx -t`` accepts as an unprivileged user, the credentials around the line the
    fix changes (so they are in the diff's context)."""
    temp = " ".join(f"{kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                    "uwsgi", "scgi"))
    return (f"pid {tmp}/nginx.pid;\nerror_log {tmp}/nginx-error.log warn;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n    {temp}\n    access_log off;\n    server {{\n        listen 127.0.0.1:47755;\n"
            "        location / {\n"
            f'            proxy_set_header Authorization "Basic {BASIC}";\n'
            f'            proxy_set_header X-Api-Key "{API_KEY}";\n'
            "            proxy_pass http://127.0.0.1:44371;\n"
            "            proxy_read_timeout 1s;\n"
            f'            proxy_set_header Cookie "sessionid={COOKIE}";\n'
            f"            fastcgi_param DB_PASSWORD {DB_PASSWORD};\n"
            "        }\n    }\n}\n")


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    """The config and the lab's recorded ``backend-too-slow`` logs, with tokens in the request
    and the referrer (error log) and a JWT in the access log's referrer."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(site_config(tmp_path))
    error = tmp_path / "error.log"
    error.write_text((SLOW / "error.log").read_text().replace(
        'request: "GET /reports/daily HTTP/1.1"',
        f'request: "GET /reports/daily?access_token={TOKEN}&page=2 HTTP/1.1", '
        f'referrer: "https://app.example/x?session={SESSION}"'))
    access = tmp_path / "access.log"
    access.write_text((SLOW / "access.log").read_text().replace(
        '"GET /reports/daily HTTP/1.1" 504 167 "-"',
        f'"GET /reports/daily?access_token={TOKEN} HTTP/1.1" 504 167 "https://app.example/?t={JWT}"'))
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / name).mkdir()
    return {"conf": conf, "error": error, "access": access, "dir": tmp_path}


def diagnose(site: dict[str, Path], *extra: str) -> str:
    res = why502("diagnose", "--offline", "--nginx-conf", str(site["conf"]),
                 "--error-log", str(site["error"]), "--access-log", str(site["access"]), "-v", *extra)
    assert res.returncode == 1, res.stderr
    return res.stdout


def leaked(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    return [s for s in secrets if s in text]


def test_the_inputs_do_carry_every_secret_into_the_report(site: dict[str, Path]) -> None:
    """The premise: with ``--no-redact`` each secret is in the JSON report (config evidence and
    diff context, the logged request and referrers), so the tests below can see a leak."""
    data = json.loads(diagnose(site, "--format", "json", "--no-redact"))
    text = json.dumps(data)
    assert leaked(text, (*CONFIG_SECRETS, TOKEN, SESSION)) == [*CONFIG_SECRETS, TOKEN, SESSION]
    assert data["redacted"] == 0
    assert BASIC in data["findings"][0]["fix"]["diff"]


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_diagnose_redacts_in_every_format_and_says_so(site: dict[str, Path], fmt: str) -> None:
    out = diagnose(site, "--format", fmt)
    assert leaked(out) == []
    if fmt == "json":
        import jsonschema

        data = json.loads(out)
        jsonschema.validate(data, load_schema())
        assert data["redacted"] >= 6
        assert 'Authorization "Basic [redacted]"' in data["findings"][0]["fix"]["diff"]
    else:
        assert NOTICE in out.replace("\n", " ") and "--no-redact" in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_render_redacts_a_report_saved_with_no_redact(site: dict[str, Path], fmt: str) -> None:
    saved = site["dir"] / "report.json"
    saved.write_text(diagnose(site, "--format", "json", "--no-redact"))
    res = why502("render", str(saved), "--format", fmt)
    assert res.returncode == 1 and leaked(res.stdout) == [] and NOTICE in res.stdout.replace("\n", " ")
    # text: the whole report (-v), wide enough that no diff line is cut
    shown = why502("render", str(saved), "--format", fmt, "--no-redact",
                   *(["-v", "--width", "300"] if fmt == "text" else []))
    assert BASIC in shown.stdout and NOTICE not in shown.stdout


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_stats_redacts_the_logged_requests(site: dict[str, Path], fmt: str) -> None:
    """``stats`` lists the 5xx requests with their URI: the access token is in it."""
    res = why502("stats", str(site["access"]), "--format", fmt)
    assert res.returncode == 1 and leaked(res.stdout) == [] and NOTICE in res.stdout, res.stderr
    if fmt == "json":
        assert json.loads(res.stdout)["redacted"] >= 1
    # wide enough that the table shows the whole URI (at 80 columns it is cut)
    wide = why502("stats", str(site["access"]), "--format", fmt, "--no-redact", "--width", "300")
    assert TOKEN in wide.stdout


LINT_CONF = ("events {}\nhttp {\n    upstream app {\n        server 127.0.0.1:8080;\n        keepalive 16;\n"
             "    }\n    server {\n        listen 127.0.0.1:8081;\n        location / {\n"
             f'            proxy_set_header Authorization "Bearer {JWT}";\n'
             f"            proxy_set_header X-Api-Key {API_KEY};\n"
             "            proxy_pass http://app;\n"
             f"            fastcgi_param APP_SECRET {DB_PASSWORD};\n"
             "        }\n    }\n}\n")


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_lint_redacts_the_diff_context_in_every_format(tmp_path: Path, fmt: str) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(LINT_CONF)
    res = why502("lint", str(conf), "--no-host", "--format", fmt)
    assert res.returncode == 0 and "W502-001" in res.stdout, res.stderr
    assert leaked(res.stdout) == []
    if fmt == "json":
        assert json.loads(res.stdout)["redacted"] == 2  # the header lines in the diff context
    else:  # text: the last line; SARIF: a tool notification
        assert NOTICE in res.stdout
    shown = why502("lint", str(conf), "--no-host", "--format", fmt, "--no-redact")
    assert JWT in shown.stdout and API_KEY in shown.stdout and NOTICE not in shown.stdout


def test_lint_fix_listing_is_redacted(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(LINT_CONF)
    res = why502("lint", str(conf), "--no-host", "--fix")
    assert res.returncode == 1 and leaked(res.stdout) == [] and NOTICE in res.stdout


@pytest.mark.real
def test_fix_applies_a_redacted_report_and_keeps_the_real_credentials(site: dict[str, Path]) -> None:
    """The report shows ``[redacted]`` in the diff's context; ``fix --apply`` must still apply it
    (real ``nginx -t`` on the result) and leave every credential of the file as it was."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed")
    saved = site["dir"] / "report.json"
    saved.write_text(diagnose(site, "--format", "json"))
    assert leaked(saved.read_text()) == []
    before = site["conf"].read_text()
    dry = why502("fix", str(saved))
    assert dry.returncode == 1 and "-            proxy_read_timeout 1s;" in dry.stdout
    assert leaked(dry.stdout) == []
    res = why502("fix", str(saved), "--apply", "--yes", "--no-reload", "--nginx", nginx,
                 "--config", str(site["conf"]), "--state-dir", str(site["dir"] / "state"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "configuration test passed" in res.stdout and leaked(res.stdout + res.stderr) == []
    assert site["conf"].read_text() == before.replace("proxy_read_timeout 1s;", "proxy_read_timeout 30s;")


def test_fix_listing_of_an_unredacted_report_is_redacted_unless_asked(site: dict[str, Path]) -> None:
    saved = site["dir"] / "report.json"
    saved.write_text(diagnose(site, "--format", "json", "--no-redact"))
    dry = why502("fix", str(saved))
    assert dry.returncode == 1 and leaked(dry.stdout) == [] and NOTICE in dry.stdout
    assert BASIC in why502("fix", str(saved), "--no-redact").stdout


def _now_error_line(n: int) -> str:
    return (f"{datetime.now():%Y/%m/%d %H:%M:%S} [error] 7#7: *{n} connect() failed (111: "
            f"Connection refused) while connecting to upstream, client: 10.0.0.{n}, server: lab, "
            f'request: "GET /x?access_token={TOKEN} HTTP/1.1", upstream: "http://127.0.0.1:9/x", '
            f'host: "lab", referrer: "https://app.example/?session={SESSION}"\n')


@pytest.mark.parametrize("redact", [True, False])
def test_watch_redacts_its_events_saved_reports_and_alerts(tmp_path: Path, redact: bool) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nerror_log {tmp_path}/error.log;\nhttp {{\n  access_log off;\n"
                    "  server { listen 127.0.0.1:8080; location / {\n"
                    f'    proxy_set_header Authorization "Basic {BASIC}";\n'
                    "    proxy_pass http://127.0.0.1:9; } }\n}\n")
    error = tmp_path / "error.log"
    error.write_text("")
    events: list[dict[str, object]] = []
    notes: list[Diagnostic] = []
    alerts: list[str] = []
    w = Watch(WatchOptions(default_proxy_config=str(conf), offline=True, reports_dir=str(tmp_path / "r"),
                           rules=Rules(window=5, ratio=0.5, min_requests=4, min_failures=3,
                                       resolve_after=1), redact=redact),
              events.append, notes.append)

    def alert(inc: Incident, kind: str) -> None:
        alerts.append(json.dumps(alert_of(inc, "web1")))

    w.on_change.append(alert)
    w.step()
    with error.open("a") as e:
        for n in range(1, 7):
            e.write(_now_error_line(n))
    w.step()
    w.wait_diagnosis(60)
    w.decide(time.monotonic() + 7)
    w.wait_diagnosis(60)  # the closing diagnosis (over the whole incident), then the close
    assert [ev["event"] for ev in events] == ["incident-opened", "incident-resolved"], notes
    report_file = events[1]["incident"]["report"]  # type: ignore[index]
    saved = Path(str(report_file)).read_text()
    everything = saved + json.dumps(events) + "".join(alerts)
    if redact:
        assert leaked(everything) == [] and json.loads(saved)["redacted"] >= 1
        assert "redacted" in json.loads(alerts[-1])["annotations"]
    else:
        assert TOKEN in saved  # the premise: the saved report does quote the logged request
