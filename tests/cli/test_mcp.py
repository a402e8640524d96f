"""`why502 mcp`: the real server process, driven by the MCP SDK's own client over stdio.

What an agent gets must be what a person gets: each tool's structured result is compared with the
installed command's ``--format json`` on the same inputs; paths outside the roots are refused
before anything runs; answers and run time are bounded; the tool list carries the result types'
schemas."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest

from tests.support.clirun import WHY502, why502
from tests.support.paths import ROOT_DIR

DEMO = ROOT_DIR / "src" / "why502" / "demo"
SCHEMAS = ROOT_DIR / "src" / "why502" / "schemas"


def _session(argv: list[str], calls: list[tuple[str, dict[str, Any]]]) -> tuple[Any, list[Any]]:
    """Start ``why502 mcp ARGV``, list its tools, make ``calls`` in order; the tools and results.
    (The SDK is imported here, by the worker that runs these tests: at the top it cost each of
    the suite's six workers ~1.5 CPU-s to collect this file.)"""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    async def run() -> tuple[Any, list[Any]]:
        # this environment, PYTHONPATH included: the SDK's default hands the server only HOME,
        # PATH and a few more, so a run against a source tree tested the installed why502
        params = StdioServerParameters(command=WHY502, args=["mcp", *argv], env=dict(os.environ))
        async with Client(params) as client:
            tools = await client.list_tools()
            results = [await client.call_tool(name, args) for name, args in calls]
            return tools, results

    return anyio.run(run)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    for name in ("error.log", "access.log", "nginx.conf"):
        shutil.copy(DEMO / name, root / name)
    (tmp_path / "secret.log").write_text("not for agents\n")
    (root / "escape.log").symlink_to(tmp_path / "secret.log")
    return root


def _cli_json(*argv: str) -> Any:
    out = why502(*argv)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def test_tools_are_listed_read_only_with_their_schemas(logs: Path) -> None:
    tools, _ = _session(["--root", str(logs)], [])
    by_name = {t.name: t for t in tools.tools}
    assert set(by_name) == {"diagnose", "classify", "explain", "stats", "lint"}
    assert "fix" not in by_name
    for tool in by_name.values():
        assert tool.input_schema["type"] == "object" and tool.annotations.read_only_hint
    report = json.loads((SCHEMAS / "report.schema.json").read_text())
    assert by_name["diagnose"].output_schema["properties"] == report["properties"]
    classify = json.loads((SCHEMAS / "classify.schema.json").read_text())
    assert by_name["classify"].output_schema["required"] == classify["required"]


def test_each_tool_answers_what_the_command_prints(logs: Path) -> None:
    err, acc, conf = (str(logs / n) for n in ("error.log", "access.log", "nginx.conf"))
    calls = [
        ("classify", {"files": [err]}),
        ("explain", {"query": "keepalive-race"}),
        ("lint", {"config": conf}),
        ("stats", {"files": [acc]}),
        ("diagnose", {"config": conf, "error_logs": [err], "access_logs": [acc]}),
    ]
    _, results = _session(["--root", str(logs)], calls)
    assert not any(r.is_error for r in results), [r.content for r in results if r.is_error]
    classify, explain, lint, stats, diagnose = (r.structured_content for r in results)
    assert classify == _cli_json("classify", err, "--format", "json", "--no-progress")
    jsonschema.validate(classify, json.loads((SCHEMAS / "classify.schema.json").read_text()))
    assert explain == _cli_json("explain", "--format", "json", "--", "keepalive-race")
    assert lint == _cli_json("lint", "--config", conf, "--format", "json", "--no-host",
                             "--fail-on", "never")
    assert stats == _cli_json("stats", acc, "--format", "json", "--no-progress", "--no-error-log")
    cli = _cli_json("diagnose", "--offline", "--format", "json", "--config", conf,
                    "--error-log", err, "--access-log", acc)
    jsonschema.validate(diagnose, json.loads((SCHEMAS / "report.schema.json").read_text()))
    assert [f["cause"] for f in diagnose["findings"]] == [f["cause"] for f in cli["findings"]]
    assert diagnose["findings"][0]["cause"] == "workers-exhausted"
    # the text content is the same JSON, for clients that read text only
    assert json.loads(results[0].content[0].text) == classify


def test_paths_outside_the_roots_are_refused_before_anything_runs(logs: Path, tmp_path: Path) -> None:
    calls = [
        ("classify", {"files": [str(tmp_path / "secret.log")]}),
        ("classify", {"files": [str(logs / "escape.log")]}),  # a symlink out of the root
        ("classify", {"files": [str(logs / ".." / "secret.log")]}),
        ("classify", {"files": ["-"]}),
        ("diagnose", {}),
        ("nope", {}),
    ]
    _, results = _session(["--root", str(logs)], calls)
    assert all(r.is_error for r in results), [r.content[0].text[:300] for r in results]
    texts = [r.content[0].text for r in results]
    assert all("not under an allowed root" in t for t in texts[:3]), texts
    assert "not for agents" not in "".join(texts)
    assert "file path" in texts[3] and "needs a config or a log" in texts[4] and "no tool" in texts[5]


def test_without_a_root_only_explain_works() -> None:
    _, results = _session([], [("explain", {"query": "502"}),
                               ("classify", {"files": ["/etc/passwd"]})])
    assert not results[0].is_error and results[0].structured_content["query"] == "502"
    assert results[1].is_error and "--root" in results[1].content[0].text


def test_answers_are_bounded_in_size(logs: Path) -> None:
    _, results = _session(["--root", str(logs), "--max-output", "1024"],
                          [("explain", {"query": "keepalive-race"}),
                           ("classify", {"files": [str(logs / "error.log")]})])
    assert results[0].is_error and "larger than 1,024 bytes" in results[0].content[0].text
    assert not results[1].is_error  # the classify summary is small


def test_a_command_error_is_the_commands_one_line(logs: Path) -> None:
    (logs / "broken.conf").write_bytes(b"\x00\xff" * 10)
    _, results = _session(["--root", str(logs)], [("lint", {"config": str(logs / "broken.conf")})])
    assert results[0].is_error
    text = results[0].content[0].text
    assert text.startswith("why502 lint: ") and "\n" not in text and "Traceback" not in text


def test_diagnose_of_a_log_no_reader_takes_is_an_error_not_healthy(logs: Path) -> None:
    """An agent naming an access log in a format why502 does not read gets the reason as the
    tool's error, not ``"healthy": true`` (the command exits 3 for it: cmd_diagnose)."""
    (logs / "own.log").write_text("ts=2026-11-21T10:00:00Z code=503 x=1\n" * 20, encoding="utf-8")
    _, results = _session(["--root", str(logs)], [("diagnose", {"access_logs": [str(logs / "own.log")]})])
    assert results[0].is_error
    text = results[0].content[0].text
    assert text.startswith("why502 diagnose: ") and "none of the 20 lines" in text and "\n" not in text


def test_an_empty_log_is_no_evidence_not_healthy(logs: Path) -> None:
    """An agent naming a log just rotated (empty) gets "no evidence" as the tool's error, not
    ``"healthy": true``, and classify of it "nothing to classify" (both commands exit 3)."""
    (logs / "rotated.log").write_bytes(b"")
    _, results = _session(["--root", str(logs)], [("diagnose", {"error_logs": [str(logs / "rotated.log")]}),
                                                  ("classify", {"files": [str(logs / "rotated.log")]})])
    assert all(r.is_error for r in results), [r.content[0].text[:300] for r in results]
    diagnosed, classified = (r.content[0].text for r in results)
    assert diagnosed.startswith("why502 diagnose: ") and "no evidence" in diagnosed and "\n" not in diagnosed
    assert classified.startswith("why502 classify: ") and "nothing to classify" in classified


def test_bad_flags_are_one_line() -> None:
    out = why502("mcp", "--root", "/nonexistent-dir")
    assert out.returncode == 2 and "not a directory" in out.stderr
    out = why502("mcp", "--timeout", "soon")
    assert out.returncode == 2 and "not a duration" in out.stderr


def test_a_call_past_its_time_is_stopped() -> None:
    import subprocess

    from why502.cli.mcp_server import Limits, ToolError, _bounded

    proc = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with pytest.raises(ToolError, match=r"longer than 0\.5 s"):
            _bounded(proc, Limits(roots=(), timeout=0.5))
    finally:
        proc.kill()
        proc.wait()
