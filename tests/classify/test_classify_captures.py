"""The facts the catalog patterns capture (pid, process, pool, unit, ...), found once and used
everywhere: the classified record carries them, kernel and systemd parsing and the diagnose
evidence read them instead of matching the line again.

Real lines: tests/fixtures/recorded/ (lab recordings), tests/fixtures/system/ (public kernel
lines) and tests/fixtures/public/lines.tsv; the kernel's current formats are in
tests/fixtures/system/kernel-formats.log with the format string each line was written from.
"""

from __future__ import annotations

import re

import polars as pl
import pytest

from tests.support.paths import FIXTURES_DIR
from why502.catalog.patterns import load_patterns
from why502.evidence.aggregate import LogAggregator
from why502.parsers.errorlog import classify_line
from why502.parsers.errorlog_batch import classify_series
from why502.parsers.system_text import parse_kernel_line, parse_kernel_log

FIXTURES = FIXTURES_DIR
FORMATS = FIXTURES / "system" / "kernel-formats.log"


def format_lines() -> list[str]:
    return [ln for ln in FORMATS.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]


def captures(line: str) -> dict[str, str]:
    c = classify_line(line)
    assert c is not None, line
    return dict(c.captures)


# ---------------------------------------------------------------------------------------------
# the rules: valid in both engines' regex dialects, and their captures agree


MATCH_RULES = [p for p in load_patterns() if p.match]


@pytest.mark.parametrize("pattern", MATCH_RULES, ids=lambda p: p.id)
def test_match_rules_capture_the_same_in_rust_regex(pattern) -> None:  # type: ignore[no-untyped-def]
    """polars runs Rust's regex crate: no lookaround, no backreferences, no repeated group name;
    on the pattern's own example both engines find the same groups."""
    rx = re.compile(pattern.match)
    m = rx.search(pattern.example)
    assert m is not None, pattern.id
    if not rx.groupindex:
        assert pl.Series([pattern.example]).str.contains(pattern.match).item()
        return
    rust = pl.Series([pattern.example]).str.extract_groups(pattern.match).struct.unnest().row(0, named=True)
    assert rust == m.groupdict()


UNLESS_RULES = [p for p in load_patterns() if p.unless]


@pytest.mark.parametrize("pattern", UNLESS_RULES, ids=lambda p: p.id)
def test_unless_regexes_compile_in_rust_regex_and_spare_the_example(pattern) -> None:  # type: ignore[no-untyped-def]
    """A rule's ``unless`` (the exclusion every engine honours in place of a look-ahead) is a
    Rust-compatible regex too, and does not find the rule's own example (else the example would
    not be the rule's)."""
    assert not pl.Series([pattern.example]).str.contains(pattern.unless).item(), pattern.id
    assert re.search(pattern.unless, pattern.example) is None, pattern.id


def test_an_unless_rule_passes_the_line_to_the_next_rule() -> None:
    """A line a rule's ``unless`` finds is not that rule's: it goes on down the list, and with no
    other rule for it is no failure (mod_proxy_fcgi's client-side AH01075, patterns.toml)."""
    from why502.parsers.errorlog import classify_line

    assert UNLESS_RULES, "the AH01075 rules use unless"
    for p in UNLESS_RULES:
        head, _sep, _tail = p.example.rpartition("Error dispatching request to")
        if not _sep:
            continue
        assert classify_line(p.example) is not None, p.id
        assert classify_line(head + "Error dispatching request to : (reading input brigade)") is None, p.id


def test_unless_needs_a_match_rule() -> None:
    from why502.catalog.patterns import _info, check_patterns

    bad = _info(0, {"id": "x", "source": "apache", "symptom": "read-timeout", "text": "t",
                    "provenance": "p", "example": "e", "key": ["k"], "unless": "y"})
    with pytest.raises(ValueError, match="unless needs a match regex"):
        check_patterns((bad,))


def test_upstream_from_names_a_capture_of_its_rule() -> None:
    for p in load_patterns():
        if p.upstream_from:
            names = {re.sub(r"\d+$", "", n) for n in re.compile(p.match or "").groupindex}
            assert p.upstream_from in names, p.id


def test_event_summaries_name_captures_of_their_rule() -> None:
    for p in load_patterns():
        if p.event_summary:
            names = {re.sub(r"\d+$", "", n) for n in re.compile(p.match or "").groupindex} | {"unit"}
            wanted = set(re.findall(r"\{(\w+)\}", p.event_summary))
            assert wanted <= names, p.id


# ---------------------------------------------------------------------------------------------
# kernel: the recorded kill, public lines and the current formats


def test_recorded_oom_kill_names_victim_pid_and_cgroup() -> None:
    events = parse_kernel_log((FIXTURES / "recorded" / "backend-oom-killed" / "kernel.log").read_text())
    assert [(e.kind, e.pid, e.process) for e in events] == [
        ("oom-constraint", 30069, "python"), ("oom-kill", 30069, "python")]
    constraint, kill = events
    assert constraint.oom_type == "memcg" and constraint.memcg and constraint.memcg.endswith("-ed8406")
    assert (kill.uid, kill.anon_rss_kb, kill.total_vm_kb, kill.oom_type) == (0, 70908, 97520, "memcg")
    assert kill.pattern == "kernel-oom-killed" and dict(kill.captures)["pid"] == "30069"


def test_current_kernel_formats() -> None:
    lines = format_lines()
    got = [(e.kind, e.pid, e.process, e.uid) for e in (parse_kernel_line(ln) for ln in lines) if e]
    assert got == [
        ("oom-kill", 4242, "php-fpm8.2", 33),
        ("oom-constraint", 4242, "php-fpm8.2", 33),
        ("oom-constraint", 412, "gunicorn", 33),  # pid=%5d padding
        ("oom-kill", 4242, "php-fpm8.2", 33),  # RHEL 6: "Killed process 4242, UID 33, (php-fpm8.2)"
        ("segfault", 4243, "php-fpm8.2", None),  # 6.2+: "... likely on CPU 1 (core 1, socket 0)"
        ("segfault", 12345, "Web Content", None),  # a comm with a space
    ]
    summary = parse_kernel_line(lines[1])
    assert summary is not None and summary.memcg == "/system.slice/php8.2-fpm.service"
    padded = parse_kernel_line(lines[2])
    assert padded is not None and padded.oom_type == "memcg"
    assert padded.memcg == "/system.slice/gunicorn.service"


def test_oom_kill_with_uid_keeps_pid_and_process() -> None:
    """Classified as oom-kill before too, but the pid and the process were lost, so the kill
    could not be tied to the backend it killed."""
    line = "Out of memory: Killed process 4242, UID 33, (php-fpm8.2) total-vm:1716580kB, anon-rss:1461342kB"
    line = line.replace("Out of memory: ", "")  # RHEL 6 writes it without the prefix
    c = classify_line("Mar  2 17:35:10 web1 kernel: [2858609.598568] " + line)
    assert c is not None and (c.symptom, c.source, c.upstream) == ("oom-kill", "kernel", "php-fpm8.2")
    assert (c.capture("pid"), c.capture("process"), c.capture("uid")) == ("4242", "php-fpm8.2", "33")


def test_public_kill_lines_keep_what_classify_showed() -> None:
    """The jsonl ``upstream`` of a kernel line is the victim, as before the captures."""
    rows = [ln.split("\t", 1) for ln in (FIXTURES / "public" / "lines.tsv").read_text().splitlines()
            if ln.startswith("oom-kill/")]
    victims = [classify_line(line) for _, line in rows]
    assert [v.upstream for v in victims if v and v.source == "kernel"] == ["python3", "R", "R", "mysqld"]
    assert [v.capture("pid") for v in victims if v and v.source == "kernel"] == [
        "15784", "27438", "27438", "11726"]


def test_segfault_record_upstream_stays_empty() -> None:
    line = format_lines()[4]
    c = classify_line("kernel: " + line)
    assert c is not None and c.upstream is None  # jsonl as before; the facts are captures
    assert (c.capture("process"), c.capture("pid")) == ("php-fpm8.2", "4243")


# ---------------------------------------------------------------------------------------------
# one recognition: the batch engine carries the captures to the evidence


def _frame(lines: list[str], file: str = "app.log") -> pl.DataFrame:
    series = pl.Series("line", lines, dtype=pl.String)
    df = classify_series(series)
    return df.with_columns(
        pl.Series("text", series.gather(df["idx"].cast(pl.UInt32)).to_list(), dtype=pl.String),
        (pl.col("idx").cast(pl.Int64) + 1).alias("line"), pl.lit(file).alias("file"))


def test_batch_frames_carry_captures_and_evidence_uses_them() -> None:
    kill = "Mar  2 17:35:10 web1 kernel: [2858609.598568] " + format_lines()[3]
    php = (FIXTURES / "recorded" / "php-child-killed" / "php-fpm.log").read_text().splitlines()
    supervisord = (FIXTURES / "recorded" / "backend-crash-loop" / "supervisord.log").read_text().splitlines()
    restart = ("Nov 21 09:55:33 web1 systemd[1]: php8.2-fpm.service: Scheduled restart job, restart "
               "counter is at 4.")
    agg = LogAggregator()
    agg.add(_frame([kill, *php, *supervisord, restart]))
    events = agg.events()
    oom = next(e for e in events if e.kind == "oom-kill")
    assert (oom.pid, oom.process, oom.capture("uid")) == (4242, "php-fpm8.2", "33")
    assert oom.detail == "kernel OOM-killed php-fpm8.2 pid 4242"
    child = next(e for e in events if e.kind == "worker-crashed")
    assert (child.pool, child.pid, child.process, child.capture("signal")) == ("www", 30113, "php-fpm",
                                                                               "SIGKILL")
    assert child.detail == "PHP-FPM pool [www] child 30113 exited on SIGKILL"
    spawned = [e for e in events if e.source == "supervisord" and e.kind == "unit-restart"]
    assert spawned and spawned[0].process == "app" and spawned[0].pid == 29438
    unit = next(e for e in events if e.source == "systemd")
    assert (unit.unit, unit.detail) == ("php8.2-fpm.service", "restart counter is at 4")


def test_slow_requests_name_their_script() -> None:
    log = FIXTURES / "recorded" / "demo-fpm-exhausted" / "php-fpm.log"
    slow = [ln for ln in log.read_text().splitlines() if "executing too slow" in ln]
    assert slow
    agg = LogAggregator()
    agg.add(_frame(slow))
    e = agg.events()[0]
    assert e.kind == "slow-request" and e.pool == "www" and e.pid
    assert e.capture("script") == "/lab/www/export.php"
