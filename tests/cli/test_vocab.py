"""One vocabulary for every command (issue 31, item 7; issue 23, item 5): ``--format`` names from one
list, a format a command does not offer is one line and exit 2, ``-o FILE`` on every command that
writes a result (atomic, never over an input), ``--config`` on every command that reads a proxy's
config.  Run through the installed console script, on files, as a user runs it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.paths import FIXTURES_DIR as FIXTURES
from why502.cli.main import build_parser
from why502.cli.vocab import EXTRA_FORMATS, FORMATS

RECORDED = FIXTURES / "recorded" / "backend-down-tcp"

# commands that write a result and so take -o (lab's is on `lab run`)
WITH_OUTPUT = {"diagnose", "classify", "explain", "causes", "stats", "lint", "fleet", "render",
               "completion", "lab run", "lab matrix", "lab list", "lab check"}
# why the others do not: watch streams until stopped (--reports DIR saves each incident); fix and
# mitigate report a transaction as it happens and ask before each change; mcp serves a protocol
WITHOUT_OUTPUT = {"watch", "fix", "mitigate", "mcp", "lab"}
READS_A_CONFIG = {"diagnose", "stats", "lint", "fix", "mitigate", "watch"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser, _ = build_parser()
    out: dict[str, argparse.ArgumentParser] = {}

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out[f"{path} {name}".strip()] = sub
                    walk(sub, f"{path} {name}".strip())

    walk(parser, "")
    return out


def _option(p: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return p._option_string_actions.get(flag)


def test_every_format_option_uses_the_vocabulary() -> None:
    commands = _commands()
    with_format = {name for name, p in commands.items() if _option(p, "--format")}
    assert {"diagnose", "classify", "explain", "causes", "stats", "lint", "fleet", "render", "watch",
            "lab run", "lab matrix"} <= with_format
    order = [*FORMATS, *EXTRA_FORMATS]
    for name in with_format:
        action = _option(commands[name], "--format")
        assert action is not None and action.choices is not None
        names = list(action.choices)
        assert set(names) <= set(order), (name, names)
        assert names == sorted(names, key=order.index), f"{name}: formats out of the vocabulary's order"
        assert "text" in names, f"{name}: no text format"


@pytest.mark.parametrize("command", [["stats", "/dev/null"], ["classify", "/dev/null"], ["lint"],
                                     ["explain", "502"], ["causes"], ["render", "x.json"],
                                     ["diagnose", "--demo"], ["watch"],
                                     ["fleet", "--prometheus", "http://127.0.0.1:9"]])
def test_an_unoffered_format_is_one_line_naming_the_offered_ones(command: list[str]) -> None:
    res = why502(*command, "--format", "xml")
    assert res.returncode == 2, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("why502: --format xml:"), res.stderr
    assert "text" in lines[0], lines[0]


def test_classify_summary_is_still_read_as_text() -> None:
    old = why502("classify", str(RECORDED / "error.log"), "--format", "summary")
    new = why502("classify", str(RECORDED / "error.log"), "--format", "text")
    assert old.returncode == new.returncode == 1
    assert old.stdout == new.stdout and "upstream failures" in new.stdout


def test_every_command_with_a_result_takes_o_and_those_without_are_named() -> None:
    commands = _commands()
    for name, p in commands.items():
        has = _option(p, "-o") is not None and _option(p, "--output") is not None
        if name in WITH_OUTPUT:
            assert has, f"{name}: no -o/--output"
        else:
            assert name in WITHOUT_OUTPUT, f"{name}: takes -o? add it to one of the lists with the reason"
            assert not has, name


def test_every_command_reading_a_config_takes_config() -> None:
    commands = _commands()
    for name in READS_A_CONFIG:
        assert _option(commands[name], "--config") is not None, name
        assert _option(commands[name], "--nginx-conf") is not None, f"{name}: the old flag is gone"


@pytest.mark.parametrize(("command", "marker"), [
    (["stats", str(RECORDED / "access.log"), "--no-error-log", "--format", "json"], '"stats_version"'),
    (["classify", str(RECORDED / "error.log"), "--format", "jsonl"], '"symptom"'),
    (["lint", str(FIXTURES / "lint" / "W502-001" / "fire-defaults.conf"), "--no-host", "--format", "sarif"],
     '"2.1.0"'),
    (["explain", "502", "--format", "json"], '"status"'),
    (["causes", "--format", "json"], '"kind_label"'),
    (["completion", "man"], ".SH ENVIRONMENT"),
])
def test_o_writes_what_stdout_would_have_shown(command: list[str], marker: str, tmp_path: Path) -> None:
    out = tmp_path / "result"
    shown = why502(*command)
    written = why502(*command, "-o", str(out))
    assert written.returncode == shown.returncode, written.stderr
    assert written.stdout == ""
    assert out.read_text() == shown.stdout and marker in shown.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["result"]  # no temporary file left


def test_o_naming_an_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_bytes((RECORDED / "error.log").read_bytes())
    before = log.read_bytes()
    link = tmp_path / "same.log"
    link.symlink_to(log)
    res = why502("classify", str(log), "-o", str(link))
    assert res.returncode == 2 and "that is an input of this run" in res.stderr, res
    assert log.read_bytes() == before


def test_o_naming_a_file_a_glob_reads_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_bytes((RECORDED / "error.log").read_bytes())
    res = why502("classify", str(tmp_path / "*.log"), "--format", "json", "-o", str(log))
    assert res.returncode == 2 and "that is an input of this run" in res.stderr, res
    assert log.read_bytes() == (RECORDED / "error.log").read_bytes()


def test_a_failed_run_leaves_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "stats.json"
    out.write_text("the old result\n")
    res = why502("stats", str(tmp_path / "missing.log"), "--format", "json", "-o", str(out))
    assert res.returncode == 3, res
    assert out.read_text() == "the old result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]


def test_watch_takes_config_as_its_nginx_conf(tmp_path: Path) -> None:
    """``watch --config`` reads the config like ``--nginx-conf`` did: its logs are followed."""
    access = tmp_path / "access.log"
    access.write_text("")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n  access_log {access} combined;\n  error_log {tmp_path}/e.log;\n"
                    "  server { listen 127.0.0.1:8080; location / { proxy_pass http://127.0.0.1:9; } }\n}\n")
    (tmp_path / "e.log").write_text("")
    for flag in ("--config", "--nginx-conf"):
        res = why502("watch", flag, str(conf), "--listen", "off", "--offline", "--format", "jsonl",
                     "--duration", "1")
        assert res.returncode == 0, (flag, res.stderr)
