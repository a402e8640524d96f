"""The light agent (issue 28 item 5): what the follow loop of ``why502 watch`` keeps out.

polars (~30 MB of RSS) and rich are not loaded by an agent that follows an error log, nginx's
access log, HAProxy's or Apache's log, a load balancer's access log or stdin -- not even after it
diagnosed an incident (the diagnosis is a ``diagnose`` child).  Observed in the process that ran
the loop: ``why502``'s own ``main`` runs ``watch`` in a Python child, which then prints its
``sys.modules``.  An access log (nginx's; HAProxy's one log, whose relayed 5xx are counted from
it, ``Hooks.watch_access``) is counted by ``app.watch.traffic.LineCounter``: the native scanner,
else a regex per block, never polars.
Timings are in bench/watch_bench.py and BENCHMARKS.md, never here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from why502.app.watch.engine import _failure_lines, _text_lines
from why502.parsers.errorlog import classify_line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REC = FIXTURES / "recorded"
CLOUD = FIXTURES / "cloud" / "recorded"

RUN = """
import json, sys
from why502.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in ("polars", "rich") if m in sys.modules)}))
"""


def follow_loop_modules(args: list[str], stdin: bytes | None = None) -> tuple[list[str], str]:
    """The heavy modules loaded in the process that ran ``why502 watch ARGS`` (until its first
    incident is diagnosed, or 60 s), and what it printed."""
    argv = [sys.executable, "-c", RUN, "watch", "--format", "jsonl", "--listen", "127.0.0.1:0",
            "--offline", "--min-failures", "1", "--min-requests", "1", "--ratio", "0.01",
            "--max-events", "1", "--duration", "60", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=240, check=False,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    lines = done.stdout.decode().splitlines()
    assert lines, done.stderr.decode()
    result = json.loads(lines[-1])
    assert result["code"] == 0, done.stderr.decode()
    return result["loaded"], "\n".join(lines[:-1])


@pytest.mark.parametrize("args", [
    ["--error-log", str(REC / "backend-down-tcp" / "error.log")],
    ["--config", str(REC / "haproxy-backend-down" / "haproxy.cfg"),
     "--error-log", str(REC / "haproxy-backend-down" / "haproxy.log")],
    ["--config", str(REC / "apache-backend-down" / "apache2.conf"),
     "--error-log", str(REC / "apache-backend-down" / "apache-error.log")],
    ["--access-log", str(CLOUD / "caddy-2.6.2-debian" / "caddy-access.log")],
    ["--access-log", str(CLOUD / "envoy" / "envoy-default.log"), "--log-type", "envoy"],
    ["--access-log", str(REC / "backend-5xx-combined-log" / "access.log")],
    ["--config", str(REC / "haproxy-backend-down" / "haproxy.cfg"),
     "--access-log", str(REC / "haproxy-backend-down" / "haproxy.log")],
    ["--config", str(REC / "apache-too-slow" / "apache2.conf"),
     "--access-log", str(REC / "apache-too-slow" / "apache-access.log")],
], ids=["nginx-error", "haproxy", "apache", "caddy", "envoy", "nginx-access", "haproxy-access",
        "apache-access"])
def test_the_follow_loop_loads_neither_polars_nor_rich(args: list[str]) -> None:
    loaded, events = follow_loop_modules([*args, "--from-start"])
    assert '"incident-opened"' in events  # it read the lines and had an incident diagnosed
    assert loaded == []


def test_apaches_error_log_alone_is_followed_as_apaches() -> None:
    """No ``--proxy``, no config: the error log's own head makes the agent Apache's
    (``Hooks.error_sniff``), as ``diagnose`` reads the same log -- before, its incident said
    "proxy_read_timeout ... so nginx gave up" of an Apache host."""
    _loaded, events = follow_loop_modules(
        ["--error-log", str(REC / "apache-too-slow" / "apache-error.log"), "--from-start"])
    opened = next(json.loads(ln) for ln in events.splitlines() if '"incident-opened"' in ln)
    summary = opened["incident"]["summary"]
    assert "Apache gave up" in summary and "ProxyTimeout" in summary and "nginx" not in summary


def test_an_access_log_in_common_and_more_is_counted() -> None:
    """An access log whose format nothing names and no predefined format matches whole --
    Apache's ``%h %l %u %t "%r" %>s %b %D``, recorded from ``apache2`` -- is guessed as ``stats``
    guesses it (``formats.guessed``: the Common Log Format, followed): before, every line was
    unparsed and no incident ever opened; the agent still loads neither polars nor rich."""
    log = FIXTURES / "matrix-cells" / "apache-gunicorn-timeout-window" / "apache-access.log"
    lines = [ln for ln in log.read_text().splitlines() if ln]
    loaded, events = follow_loop_modules(["--access-log", str(log), "--from-start"])
    opened = next(json.loads(ln) for ln in events.splitlines() if '"incident-opened"' in ln)
    assert opened["incident"]["requests"] == len(lines)
    assert opened["incident"]["errors_5xx"] == sum(1 for ln in lines if ln.split('" ')[1][0] == "5")
    assert loaded == []


def test_stdin_too() -> None:
    log = (REC / "haproxy-backend-down" / "haproxy.log").read_bytes()
    loaded, events = follow_loop_modules(
        ["--config", str(REC / "haproxy-backend-down" / "haproxy.cfg"), "-"], stdin=log)
    assert '"backend-not-running"' in events
    assert loaded == []


def test_haproxy_requests_counted_out_are_never_failures() -> None:
    """The follow loop counts out HAProxy's clean request lines before ``classify_line``
    (``proxies.haproxy.log.quiet``, its ``Hooks.watch_quiet``): none of them may be a line
    ``classify_line`` reads as a failure,
    on every HAProxy log recorded from a real HAProxy."""
    logs = sorted(FIXTURES.rglob("haproxy*.log"))
    assert len(logs) >= 6
    removed = kept = 0
    for log in logs:
        data = log.read_bytes()
        left = set(_text_lines(_failure_lines(data)))
        for text in _text_lines(data):
            if text in left:
                kept += 1
                continue
            removed += 1
            assert classify_line(text) is None, (log, text)
    assert removed and kept
