"""``match_source`` asks one program's rules, compiled alone (``errorlog._source_rules``).

Why: the kernel log's first line compiled all ~195 ``match`` rules, ~0.13 s of a live
``diagnose`` (BENCHMARKS.md stop 48).  The answer must be the one the whole set gave: the first
rule of that program, in the file's order, whose needles and regex find the text.
"""

from __future__ import annotations

from why502.catalog.patterns import load_patterns
from why502.parsers import errorlog


def _first_of_all(source: str, text: str) -> str | None:
    """The whole set, asked as ``match_source`` did before: every rule, filtered by program."""
    low = text.lower()
    for p, rx, unless in errorlog._match_rules():
        if (p.source == source and any(n in low for n in p.needles)
                and errorlog._rule_match(rx, unless, text)):
            return p.id
    return None


def test_one_programs_rules_give_the_whole_sets_answer_on_every_example() -> None:
    rules = [p for p in load_patterns() if p.match]
    sources = sorted({p.source for p in rules})
    assert "kernel" in sources
    examples = [p.example for p in rules if p.example]
    asked = 0
    for source in sources:
        for text in examples:
            got = errorlog.match_source(source, text)
            assert (got.pattern if got else None) == _first_of_all(source, text), (source, text)
            asked += got is not None
    assert asked >= len(sources)  # each program's own examples are found


def test_the_kernel_log_compiles_the_kernels_rules_alone() -> None:
    errorlog._match_rules.cache_clear()
    errorlog._source_rules.cache_clear()
    try:
        line = ("Memory cgroup out of memory: Killed process 22572 (python3) total-vm:171400kB, "
                "anon-rss:67616kB, file-rss:9752kB, shmem-rss:0kB, UID:0 pgtables:220kB oom_score_adj:0")
        found = errorlog.match_source("kernel", line)
        assert found is not None and found.symptom
        assert errorlog._match_rules.cache_info().currsize == 0  # the whole set was not compiled
        kernel = errorlog._source_rules("kernel")
        assert kernel and {p.source for p, _rx, _unless in kernel} == {"kernel"}
    finally:
        errorlog._source_rules.cache_clear()


def test_a_line_compiles_the_rules_its_needles_gate_alone() -> None:
    """``MatchRules`` compiles a rule when a line asks it: a line of Apache's benign shape asks a
    few (BENCHMARKS.md stop 52), and the rules it asks are the file's, in order, as compiled."""
    errorlog._match_rules.cache_clear()
    try:
        line = ("[Mon Nov 23 09:32:33.986462 2026] [ssl:info] [pid 31985:tid 31992] [client 10.1.5.5:40005] "
                "AH01964: Connection to child 5 established (server shop:443)")
        errorlog.classify_line(line)
        rules = errorlog._match_rules()
        compiled = sum(r is not None for r in rules._rules)
        assert 0 < compiled < len(rules) // 4
        for i, (p, rx, unless) in enumerate(rules):
            assert p is rules.infos[i] and rx.pattern == p.match
            assert (unless.pattern if unless else None) == (p.unless or None)
        assert [p for p, _rx, _u in rules] == [p for p in load_patterns() if p.match]
    finally:
        errorlog._match_rules.cache_clear()
        errorlog._source_rules.cache_clear()
