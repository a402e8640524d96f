"""`why502 explain` and `why502 causes`, through the real CLI entry point."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunMain
from tests.support.paths import ROOT_DIR
from why502.catalog import load_catalog, load_statuses

ROOT = ROOT_DIR
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
REFUSED = ('2024/05/01 12:00:01 [error] 2107#2107: *1843 connect() failed (111: Connection refused) while '
           'connecting to upstream, client: 203.0.113.9, server: example.com, request: "GET /api HTTP/1.1", '
           'upstream: "http://127.0.0.1:8080/api", host: "example.com"')


def test_explain_cause_prints_the_whole_page(run_main: RunMain) -> None:
    code, out, _ = run_main("explain", "backend-not-running")
    assert code == 0
    entry = load_catalog().get("backend-not-running")
    assert entry is not None
    assert out.startswith("backend-not-running  (root cause)\nThe backend is not running\n")
    for section in ("Status codes: 502, 503", "What it means", "Evidence that proves it", "How to confirm",
                    "Fix", "Messages and where they come from", "Related", "References"):
        assert section in out
    assert "ss -ltnp 'sport = :8080'" in out
    assert entry.references[0] in out
    assert "nginx/nginx src/http/ngx_http_upstream.c" in out  # provenance
    assert "\x1b[" not in out  # not a terminal: no colour


def test_explain_symptom_shows_messages_and_fix_snippet(run_main: RunMain) -> None:
    code, out, _ = run_main("explain", "header-too-big")
    assert code == 0
    assert "upstream sent too big header" in out
    assert "proxy_buffer_size 16k;" in out
    assert "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_buffer_size" in out


def test_explain_502_explains_502_503_504_and_the_timeout_myth(run_main: RunMain) -> None:
    code, out, _ = run_main("explain", "502")
    assert code == 0
    assert out.startswith("502  (status code, http)\n502 Bad Gateway")
    assert "504, not 502" in out
    assert "Apache mod_proxy: connect failures give 503" in out
    assert "Who produces it" in out and "haproxy" in out and "aws-alb" in out
    assert "connection-refused" in out and "backend-not-running" in out
    assert "why502 explain 503" in out and "why502 explain 504" in out


@pytest.mark.parametrize("arg,code", [("009", "009"), ("9", "009"), ("504", "504"), ("524", "524"),
                                      ("460", "460"), ("499", "499")])
def test_explain_status_codes(run_main: RunMain, arg: str, code: str) -> None:
    rc, out, _ = run_main("explain", arg)
    assert rc == 0
    assert out.startswith(code + "  (status code")
    assert load_statuses()[code].title in out


def test_unknown_id_is_one_line_exit_2_with_suggestions(run_main: RunMain) -> None:
    code, out, err = run_main("explain", "backend-not-runing")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "did you mean: backend-not-running" in err


def test_unknown_status_is_exit_2(run_main: RunMain) -> None:
    code, _, err = run_main("explain", "418")
    assert code == 2 and "no page for status 418" in err and err.count("\n") == 1


def test_id_typed_with_spaces_or_case(run_main: RunMain) -> None:
    code, out, _ = run_main("explain", "Backend", "Not", "Running")
    assert code == 0 and out.startswith("backend-not-running")


def test_id_in_two_kinds_shows_both(run_main: RunMain) -> None:
    code, out, _ = run_main("explain", "port-exhaustion")
    assert code == 0
    assert "port-exhaustion  (root cause)" in out and "port-exhaustion  (symptom)" in out


def test_explain_pasted_nginx_line(run_main: RunMain) -> None:
    code, out, _ = run_main("explain", REFUSED)
    assert code == 0
    assert out.startswith("This log line is: Connection refused")
    assert "symptom:  connection-refused" in out
    assert "the client got 502" in out
    assert "upstream: http://127.0.0.1:8080/api" in out
    assert "connection-refused  (symptom)" in out  # then the symptom page


def test_explain_line_from_stdin(run_main: RunMain, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("\n" + REFUSED + "\nsecond line ignored\n"))
    code, out, _ = run_main("explain", "-")
    assert code == 0 and "symptom:  connection-refused" in out


def test_explain_line_while_reading_upstream_headers_sent(run_main: RunMain) -> None:
    line = REFUSED.replace("connect() failed (111: Connection refused) while connecting to upstream",
                           "upstream timed out (110: Connection timed out) while reading upstream")
    code, out, _ = run_main("explain", line)
    assert code == 0
    assert "symptom:  read-timeout" in out
    assert "headers were already sent" in out


def test_explain_pasted_fpm_event_line(run_main: RunMain) -> None:
    line = ("[01-May-2024 12:00:00] WARNING: [pool www] server reached pm.max_children setting (5), "
            "consider raising it")
    code, out, _ = run_main("explain", line)
    assert code == 0
    assert "symptom:  fpm-max-children" in out and "source: php-fpm" in out
    assert "fpm-max-children  (evidence event)" in out


def test_hostile_line_cannot_reach_the_terminal(run_main: RunMain) -> None:
    line = REFUSED.replace('"GET /api HTTP/1.1"', '"GET /\x1b]0;pwned\x07\x1b[31mred HTTP/1.1"')
    code, out, _ = run_main("explain", line)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    # the text stays and the escape sequences are shown, inert: never "GET /red" as if clean
    assert "request:  GET /\\x1b]0;pwned\\x07\\x1b[31mred HTTP/1.1" in out


@pytest.mark.parametrize("log", ["recorded/apache-too-slow/apache-access.log",
                                 "recorded/backend-5xx-combined-log/access.log"])
def test_an_access_line_is_said_to_be_one(run_main: RunMain, log: str) -> None:
    """A request line pasted from an access log (Apache's ``%D`` one, nginx's ``combined``) has
    no message to explain: the usage error says what it is, its status, and what reads it
    (``parsers.access_line``), instead of "not a known upstream-failure line"."""
    from tests.support.paths import FIXTURES_DIR

    line = next(ln for ln in (FIXTURES_DIR / log).read_text().splitlines() if ln)
    status = int(line.split('" ')[1].split()[0])
    code, out, err = run_main("explain", line)
    assert code == 2 and out == ""
    assert f"an access-log request line (status {status}: the proxy answered a 5xx, not why)" in err
    assert "why502 diagnose --access-log" in err and "not a known upstream-failure line" not in err
    ok = line.replace(f'" {status} ', '" 200 ', 1)
    code, _out, err = run_main("explain", ok)
    assert code == 2 and "(status 200: no failure)" in err


def test_unrecognised_line_is_exit_2(run_main: RunMain) -> None:
    code, out, err = run_main("explain", "GET / HTTP/1.1 200 everything is fine \x1b[2J")
    assert code == 2 and out == ""
    assert "not a known upstream-failure line" in err and "\x1b" not in err


def test_explain_json(run_main: RunMain) -> None:
    code, out, _ = run_main("explain", "read-timeout", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["type"] == "id" and data["status"] is None and data["line"] is None
    [entry] = data["entries"]
    assert entry["id"] == "read-timeout" and entry["kind"] == "symptom" and entry["status_codes"] == [504]
    assert entry["confirm"] and entry["fix"] and entry["references"] and entry["provenance"]

    code, out, _ = run_main("explain", "009", "--format", "json")
    data = json.loads(out)
    assert data["type"] == "status" and data["status"]["code"] == "009"

    code, out, _ = run_main("explain", REFUSED, "--format", "json")
    data = json.loads(out)
    assert data["type"] == "line" and data["line"]["symptom"] == "connection-refused"
    assert data["line"]["status"] == 502 and data["entries"][0]["id"] == "connection-refused"


def _recorded_error_lines() -> list[tuple[str, str]]:
    out = []
    for log in sorted(RECORDED.glob("*/error.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "[error]" in line or "[crit]" in line or "[alert]" in line:
                out.append((log.parent.name, line))
                break
    return out


@pytest.mark.parametrize("scenario,line", _recorded_error_lines(), ids=lambda v: v if "/" not in v else "")
def test_explain_real_recorded_lines(run_main: RunMain, scenario: str, line: str) -> None:
    """The first error of every recording of a real nginx is explained with a catalog page; one
    that is not an upstream failure (near-misses: ``Primary script unknown``) is a usage error."""
    from why502.parsers.errorlog import classify_line

    record = classify_line(line)
    if record is None:
        code, out, err = run_main("explain", line)
        assert code == 2 and out == "" and "not a known upstream-failure line" in err, scenario
        return
    code, out, _ = run_main("explain", line)
    assert code == 0
    assert f"symptom:  {record.symptom}" in out
    assert any(f"{record.symptom}  ({k})" in out for k in ("symptom", "evidence event"))


def test_causes_lists_everything(run_main: RunMain) -> None:
    code, out, _ = run_main("causes")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "STATUS", "TITLE"]
    catalog = load_catalog()
    for entry in catalog.all():
        assert any(ln.startswith(entry.id + " ") for ln in lines), entry.id
    assert any(ln.startswith("read-timeout") and " 504 " in ln for ln in lines)


def test_causes_kind_filter_and_json(run_main: RunMain) -> None:
    code, out, _ = run_main("causes", "--kind", "cause", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert {r["kind"] for r in rows} == {"cause"}
    assert len(rows) == len(load_catalog().of_kind("cause"))
    assert rows[0].keys() >= {"id", "kind", "status_codes", "title"}
    code, out, _ = run_main("causes", "--kind", "status")
    assert code == 0 and out.startswith("CODE") and "\n009 " in out and "\n524 " in out
    code, out, _ = run_main("causes", "--kind", "event", "--kind", "symptom", "--format", "json")
    kinds = {r["kind"] for r in json.loads(out)}
    assert kinds == {"event", "symptom"}
