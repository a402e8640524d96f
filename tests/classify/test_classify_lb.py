"""``why502 classify`` on a load balancer / proxy log: one row per request the proxy failed
itself, with its own word, the symptom, the RFC 9209 type and the cause; exit 1 when any."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunMain

REC = Path(__file__).resolve().parents[1] / "fixtures" / "cloud" / "recorded"


def test_classify_envoy_jsonl(run_main: RunMain) -> None:
    code, out, _ = run_main("classify", "--format", "jsonl", str(REC / "envoy/envoy-istio-text.log"))
    rows = [json.loads(r) for r in out.splitlines()]
    assert code == 1
    assert {r["code"] for r in rows} == {"UF", "UT", "UC", "UPE", "UH", "UO"}
    assert all(r["made_by"] == "lb" and r["source"] == "envoy" for r in rows)
    dead = next(r for r in rows if r["request"] == "GET /dead")
    assert (dead["symptom"], dead["proxy_status"]) == ("connection-refused", "connection_refused")
    assert dead["group"] == "dead"


def test_classify_caddy_error_log_summary(run_main: RunMain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    code, out, _ = run_main("classify", str(REC / "caddy-2.6.2-debian/caddy.stderr.log"))
    assert code == 1
    assert "no upstreams available" in out and "read-timeout" in out


def test_classify_healthy_lb_log_exits_0(run_main: RunMain, tmp_path: Path) -> None:
    ok = (REC / "envoy/envoy-default.log").read_text().splitlines()[0]
    log = tmp_path / "ok.log"
    log.write_text(ok + "\n")
    code, _, _ = run_main("classify", str(log), "--log-type", "envoy")
    assert code == 0


@pytest.mark.parametrize("fmt", [(), ("--format", "jsonl"), ("--format", "json"), ("--since", "2020-01-01")])
@pytest.mark.parametrize("family", ["alb", "cloudflare", "envoy", "caddy", "traefik", "cloudflared"])
def test_a_file_of_no_family_request_is_an_error_not_healthy(
        run_main: RunMain, tmp_path: Path, family: str, fmt: tuple[str, ...]) -> None:
    """Random text (or the wrong ``--log-type``) said "0 requests failed" and exited 0, as a
    healthy log would: ``stats`` and ``diagnose`` say there is no request line (exit 3), and so
    does ``classify`` in each of its outputs and paths, on stderr, with nothing on stdout."""
    log = tmp_path / "noise.txt"
    log.write_text("".join(f"q{n}Zr+/Kx{n * 7919 % 1000:03d}vWb== not a log line\n" for n in range(300)))
    code, out, err = run_main("classify", str(log), "--log-type", family, *fmt)
    assert (code, out) == (3, ""), (code, out, err)
    assert f"no {family} request line in {log}" in err


def test_a_log_of_only_the_rules_failures_is_no_error(
        run_main: RunMain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pasted nginx error line under ``--log-type envoy`` is no Envoy request, but the classify
    rules read a failure in it: that is an answer, not a wrong format."""
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    log = tmp_path / "pasted.log"
    log.write_text('2026/11/22 11:07:58 [error] 7#7: *1 connect() failed (111: Connection refused) while '
                   'connecting to upstream, client: 10.0.0.1, server: _, request: "GET / HTTP/1.1", '
                   'upstream: "http://127.0.0.1:9000/", host: "x"\n')
    for fmt in ((), ("--format", "jsonl"), ("--since", "2020-01-01")):
        code, out, err = run_main("classify", str(log), "--log-type", "envoy", *fmt)
        assert code == 1, (fmt, out, err)
        assert "connection-refused" in out, fmt


def test_hostile_lb_line_reaches_no_terminal(run_main: RunMain, tmp_path: Path) -> None:
    log = tmp_path / "envoy.log"
    log.write_text('[2026-11-22T11:07:58.526Z] "GET /\x1b[31mred HTTP/1.1" 503 UF 0 98 0 - "-" "ua" "id" '
                   '"h\x1b]0;pwn\x07" "127.0.0.1:1\x1b[2J"\n', encoding="utf-8")
    name = str(log)
    commands = (("stats", name), ("classify", name), ("diagnose", "--offline", "--access-log", name))
    for argv in commands:
        code, out, err = run_main(*argv)
        assert code in (0, 1), err
        assert "\x1b" not in out + err and "\x07" not in out + err, argv


def test_summary_counts_the_rules_rows_beside_the_familys(run_main: RunMain) -> None:
    """A line the family's reader does not read but the classify rules do (a pasted record
    wrapped in another JSON object) has no family ``code``: the summary counts it under ``-``
    (it raised KeyError, exit 4, on these two published files)."""
    cloud = REC.parent
    for path in (cloud / "istio.jsonl", cloud.parent / "edge-field" / "cloudflared.jsonl"):
        code, out, err = run_main("classify", "--format", "json", str(path))
        assert code == 1, err
        data = json.loads(out)
        assert data["failures"] == sum(s["lines"] for s in data["symptoms"]) > 0
        assert "-" in {s["word"] for s in data["symptoms"]}, data["symptoms"]
