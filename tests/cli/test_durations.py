"""Every option that takes seconds reads durations as operators write them (issue 26, item 4):
``10``, ``10s``, ``1m``, ``250ms`` on every command, through ``timeargs.SecondsArg``."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from why502.cli.main import build_parser, main
from why502.timeargs import SecondsArg

# an option whose name says it is a length of time
TIME_NAME = re.compile(r"(timeout|interval|window|duration|resolve-after|verify-for|keepalive)$")


def _parsers(parser: argparse.ArgumentParser,
             path: str = "why502") -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _parsers(sub, f"{path} {name}")
    return out


def _time_options() -> list[tuple[str, argparse.Action]]:
    parser, _ = build_parser()
    found = []
    for path, p in _parsers(parser):
        for action in p._actions:
            longest = max(action.option_strings, key=len, default="")
            if action.metavar in ("SECONDS", "DURATION") or TIME_NAME.search(longest):
                found.append((f"{path} {longest}", action))
    return found


def test_every_seconds_option_reads_durations() -> None:
    """The scan: a new seconds option with ``type=float`` (which refuses ``10s``) fails here."""
    options = _time_options()
    names = {name for name, _ in options}
    # the scan sees the options the issue names (a scan that finds nothing proves nothing)
    for expected in ("why502 watch --window", "why502 watch --resolve-after", "why502 watch --duration",
                     "why502 watch --probe-interval", "why502 fix --verify-for",
                     "why502 lint --backend-timeout", "why502 lint --backend-keepalive",
                     "why502 stats --lb-timeout", "why502 fleet --timeout", "why502 mcp --timeout"):
        assert expected in names, expected
    wrong = [name for name, action in options if not isinstance(action.type, SecondsArg)]
    assert not wrong, f"seconds options not read by timeargs.SecondsArg: {wrong}"
    for name, action in options:
        assert action.help and SecondsArg.HELP in action.help, f"{name}: help does not say {SecondsArg.HELP}"


@pytest.mark.parametrize(("text", "seconds"), [("10", 10.0), ("10s", 10.0), ("1m", 60.0),
                                               ("250ms", 0.25), ("1m30s", 90.0)])
def test_lint_backend_timeout_through_the_command(text: str, seconds: float, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n"
                   "    timeout server 30s\n\nlisten app 127.0.0.1:8080\n"
                   "    server a 127.0.0.1:9001 check\n")
    assert main(["lint", str(cfg), "--no-host", "--format", "json", "--fail-on", "never",
                 "--backend-timeout", text]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["inputs"]["backend_timeout"] == seconds
    codes = {f["code"] for f in report["findings"]}
    assert ("W502-026" in codes) == (seconds > 30)


@pytest.mark.parametrize("argv", [
    ["lint", "--backend-timeout", "soon"],
    ["lint", "--backend-keepalive", "0"],
    ["fix", "--verify-for", "10 parsecs"],
    ["stats", "--lb-timeout", "nan"],
    ["watch", "--window=-5s"],
    ["fleet", "--prometheus", "http://127.0.0.1:1", "--timeout", "1x"],
])
def test_bad_duration_is_one_usage_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    flag = next(a for a in argv if a.startswith("--") and a != "--prometheus").split("=")[0]
    assert captured.out == "" and captured.err.startswith(f"why502: {flag} ")
    assert len(captured.err.strip().splitlines()) == 1


def test_watch_and_fix_accept_units() -> None:
    parser, _ = build_parser()
    args = parser.parse_args(["watch", "--window", "2m", "--resolve-after", "90s", "--duration",
                              "250ms", "--probe-interval", "10"])
    assert (args.window, args.resolve_after, args.duration, args.probe_interval) == (120.0, 90.0, 0.25, 10.0)
    assert parser.parse_args(["fix", "--verify-for", "1m"]).verify_for == 60.0
    assert parser.parse_args(["stats", "--lb-timeout", "2m"]).lb_timeout == 120.0
    assert parser.parse_args(["mcp"]).timeout == 120.0  # the string default goes through the type too
