"""QA: one order for rotated log sets (``sources.rotation``) in classify, diagnose and stats.

``classify``/``diagnose`` (``sources.logfiles``) and ``stats`` (``sources.byte_chunks``) had two
orderings: logfiles read ``dateext`` files newest date first and never found them as rotated
siblings; byte_chunks took ``access.log.2026-11-20.gz`` for a set of its own, read after the live
file.  The sets here are real: nginx's own logs recorded by the lab (``tests/fixtures/recorded``,
one scenario per file, their times disjoint and rising), written under logrotate's names --
numbered, gzipped and dated (``dateext``, and ``dateformat .%Y-%m-%d``) -- and handed over in
the order a shell's ``error.log*`` gives them: the live (newest) file first.
"""

from __future__ import annotations

import gzip
import itertools
import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.paths import FIXTURES_DIR
from why502.sources.rotation import is_rotated_sibling, order_rotated, rotated_base

RECORDED = FIXTURES_DIR / "recorded"
# oldest first; error-log times 21:13:42, 21:13:49-51, 21:18:48-51, 21:55:30, 21:55:33-41
SCENARIOS = ["backend-down-tcp", "workers-exhausted-fpm", "keepalive-race", "port-exhaustion",
             "backend-crash-loop"]
# logrotate names, oldest first: dated files are older than numbered ones (the config went from
# dateext to numbers), higher numbers older, the live file newest
STYLES = {
    "dateext": ["{}-20261120.gz", "{}-20261121", "{}.2.gz", "{}.1", "{}"],
    "dateformat": ["{}.2026-11-20.gz", "{}.2026-11-21", "{}.2.gz", "{}.1", "{}"],
}
CONF = str(RECORDED / "backend-crash-loop" / "nginx.conf")  # log_format why502 like all of them


def _write(path: Path, lines: list[str]) -> None:
    data = "".join(f"{ln}\n" for ln in lines).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def _make_set(d: Path, log: str, style: str, parts: list[list[str]]) -> list[str]:
    """Write ``parts`` (oldest first) under the style's names; return the paths oldest first."""
    paths = [d / pattern.format(log) for pattern in STYLES[style]]
    for path, lines in zip(paths, parts):
        _write(path, lines)
    return [str(p) for p in paths]


def _recorded(scenario: str, log: str) -> list[str]:
    return (RECORDED / scenario / log).read_text(encoding="utf-8").splitlines()


def _shell_order(paths: list[str]) -> list[str]:
    return sorted(paths)  # what `error.log*` expands to: the live file first


# ---------------------------------------------------------------------------------------------
# the rule itself


def test_order_of_logrotate_names() -> None:
    assert order_rotated(["a/x.log", "a/x.log.1", "a/x.log.10.gz", "a/x.log.2.gz"]) == [
        "a/x.log.10.gz", "a/x.log.2.gz", "a/x.log.1", "a/x.log"]
    for dated in (["x.log-20261119.gz", "x.log-20261120"],
                  ["x.log.2026-11-19.gz", "x.log.2026-11-20"],
                  ["x.log-2026-11-19.gz", "x.log-2026-11-20"],
                  ["x.log-2026112009.gz", "x.log-2026112010"],  # dateformat -%Y%m%d%H
                  ["x.log-1763600000.gz", "x.log-1763686400"]):  # dateformat -%s
        want = [*dated, "x.log.2.gz", "x.log.1", "x.log"]
        assert order_rotated(_shell_order(want)) == want, dated
        assert {rotated_base(p) for p in want} == {"x.log"}


def test_separate_sets_keep_their_order_and_names_that_only_look_numbered() -> None:
    paths = ["b/error.log", "a/error.log.1", "b/error.log.1", "php8.2-fpm.log", "a/error.log"]
    assert order_rotated(paths) == ["b/error.log.1", "b/error.log", "a/error.log.1",
                                    "a/error.log", "php8.2-fpm.log"]
    assert rotated_base("/var/log/php8.2-fpm.log.1") == "/var/log/php8.2-fpm.log"
    assert rotated_base("access.log.gz") == "access.log"


def test_rotated_siblings() -> None:
    assert is_rotated_sibling("d/e.log", "d/e.log.1")
    assert is_rotated_sibling("d/e.log", "d/e.log.2.gz")
    assert is_rotated_sibling("d/e.log", "d/e.log-20261120.gz")
    assert is_rotated_sibling("d/e.log", "d/e.log.2026-11-20")
    assert not is_rotated_sibling("d/e.log", "d/e.log")
    assert not is_rotated_sibling("d/e.log", "d/e.log.gz")
    assert not is_rotated_sibling("d/e.log", "d/e.log.old")
    assert not is_rotated_sibling("d/e.log.1", "d/e.log.10")


# ---------------------------------------------------------------------------------------------
# as a user


@pytest.mark.parametrize("how", ["shell order", "pattern", "--rotated"])
@pytest.mark.parametrize("style", sorted(STYLES))
def test_classify_reads_a_mixed_rotated_set_oldest_first(tmp_path: Path, style: str,
                                                         how: str) -> None:
    parts = [_recorded(s, "error.log") for s in SCENARIOS]
    paths = _make_set(tmp_path, "error.log", style, parts)
    args = {"shell order": _shell_order(paths), "pattern": [str(tmp_path / "error.log*")],
            "--rotated": ["--rotated", str(tmp_path / "error.log")]}[how]
    proc = why502("classify", "--format", "jsonl", *args)
    assert proc.returncode == 1, proc.stderr  # upstream failures found
    rows = [json.loads(r) for r in proc.stdout.splitlines()]
    assert len(rows) == sum(len(p) for p in parts)  # every file read, every line recognised
    files = list(dict.fromkeys(r["file"] for r in rows))
    assert files == paths
    times = [r["time"] for r in rows]
    assert times == sorted(times)
    # and line numbers restart per file, counting up inside it
    for path, lines in zip(paths, parts):
        assert [r["line"] for r in rows if r["file"] == path] == list(range(1, len(lines) + 1))


@pytest.mark.parametrize("style", sorted(STYLES))
def test_classify_summary_names_the_files_oldest_first(tmp_path: Path, style: str) -> None:
    paths = _make_set(tmp_path, "error.log", style,
                      [_recorded(s, "error.log") for s in SCENARIOS])
    proc = why502("classify", *_shell_order(paths))
    assert proc.returncode == 1, proc.stderr
    # the header, wrapped at 80 columns when piped: everything before the first blank line
    first_line = proc.stdout.split("\n\n")[0].replace("\n", "")
    assert f"from 5 files ({paths[0]} ... {paths[-1]})" in first_line


def _access_time(line: str) -> datetime:
    return datetime.strptime(line.split("[", 1)[1].split("]", 1)[0], "%d/%b/%Y:%H:%M:%S %z")


@pytest.mark.parametrize("style", sorted(STYLES))
def test_stats_reads_a_mixed_rotated_set_oldest_first(tmp_path: Path, style: str) -> None:
    parts = [_recorded(s, "access.log") for s in SCENARIOS]
    # the fixture's premise: each file's lines come after the previous file's
    stamps = [[_access_time(ln) for ln in p] for p in parts]
    assert all(max(a) <= min(b) for a, b in itertools.pairwise(stamps))
    paths = _make_set(tmp_path, "access.log", style, parts)
    proc = why502("stats", *_shell_order(paths), "--nginx-conf", CONF, "--no-error-log",
                  "--no-progress", "--format", "json")
    d = json.loads(proc.stdout)
    assert proc.returncode == (1 if d["total_5xx"] else 0), proc.stderr  # 1: 5xx found
    assert d["files"] == paths
    assert d["requests"] == sum(len(p) for p in parts) and d["unparsed"] == 0


def test_diagnose_finds_the_whole_set_and_its_evidence_starts_at_the_oldest_line(
        tmp_path: Path) -> None:
    """One backend's refusals spread over a mixed set: found from the live file's name alone,
    read oldest first, so the finding's sample is the very first refusal, in the oldest file."""
    lines = _recorded("backend-crash-loop", "error.log")
    assert len(lines) == 14
    parts = [lines[0:3], lines[3:6], lines[6:9], lines[9:12], lines[12:]]
    paths = _make_set(tmp_path, "error.log", "dateext", parts)
    proc = why502("diagnose", "--offline", "--nginx-conf", CONF, "--error-log",
                  str(tmp_path / "error.log"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["inputs"]["error_logs"] == paths
    logs = [e for f in report["findings"] for e in f["evidence"] if e["kind"] == "log"]
    refused = [e for e in logs if e.get("symptom") == "connection-refused"]
    assert len(refused) == 1
    ev = refused[0]
    assert ev["count"] == 14
    assert (ev["source"], ev["line"], ev["text"]) == (paths[0], 1, lines[0])
    assert ev["time"] == "2026-11-21T21:55:33"
    first = [e for e in report["events"] if e["kind"] == "connection-refused"]
    assert first and first[0]["source"] == paths[0]
