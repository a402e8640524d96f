"""log_format compilation (parsers/log_format.py) against lines nginx really writes."""

from __future__ import annotations

import re

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.errors import UsageError
from why502.parsers.log_format import COMBINED, PREDEFINED, compile_format, resolve_format

RECORDED = FIXTURES_DIR / "recorded"


def test_combined_matches_a_real_line_and_captures_fields() -> None:
    line = (RECORDED / "backend-down-tcp" / "access.log").read_text().splitlines()[0]
    # the recorded line starts with the combined part; the rest is the lab's upstream fields
    cf = compile_format(PREDEFINED["upstream_kv"][0])
    m = re.match(cf.pattern, line)
    assert m, line
    assert m.group("status") == "502"
    assert m.group("upstream_header_time") == "-"
    assert m.group("time_local").endswith("+0000")
    assert "request_time" not in cf.fields  # not needed, so not captured


def test_multi_valued_upstream_fields() -> None:
    cf = compile_format('$status ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time"')
    line = (
        '200 ua="10.0.0.2:8080, 10.0.0.3:8080 : unix:/run/php.sock" us="502, 200 : 404" '
        'urt="0.000, 0.031 : 0.010"'
    )
    m = re.match(cf.pattern, line)
    assert m
    assert m.group("upstream_addr") == "10.0.0.2:8080, 10.0.0.3:8080 : unix:/run/php.sock"
    assert m.group("upstream_status") == "502, 200 : 404"


def test_braced_variables_and_escape_json() -> None:
    name, fmt, escape = resolve_format('escape=json {"s":${status},"r":"$request"}')
    assert name is None and escape == "json"
    cf = compile_format(fmt, escape)
    m = re.match(cf.pattern, '{"s":502,"r":"GET /a\\"b HTTP/1.1"}')
    assert m and m.group("request") == 'GET /a\\"b HTTP/1.1'


def test_names_resolve_and_config_formats_win() -> None:
    assert resolve_format("combined")[1] == COMBINED
    assert resolve_format("mine", {"mine": ("$status x", None)})[1] == "$status x"
    with pytest.raises(UsageError, match="unknown log format name"):
        resolve_format("nosuch")


def test_format_without_status_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"no \$status"):
        compile_format('$remote_addr "$request"')
    with pytest.raises(UsageError, match="escape"):
        compile_format("$status", "xml")


def test_every_predefined_format_compiles_for_rust_regex() -> None:
    import polars as pl

    for name, (fmt, escape) in PREDEFINED.items():
        cf = compile_format(fmt, escape, name=name)
        # polars (Rust regex) must accept the pattern
        pl.Series(["x"]).str.extract_groups(cf.pattern)
        assert "status" in cf.fields
