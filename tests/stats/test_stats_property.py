"""Property test: for random log_formats built from real nginx variables, the fast quote-split
parser (evidence.stats.parser.LineParser) reads every field exactly as the whole-line regex
(parsers.log_format) does, and the regex reads back the values the line was built from."""

from __future__ import annotations

import re

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from why502.evidence.stats.parser import LineParser
from why502.parsers.log_format import compile_format

ip = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
addr = st.one_of(ip.map(lambda a: a + ":8080"), st.just("unix:/run/php/php8.2-fpm.sock"), st.just("backend"))
secs = st.one_of(st.just("-"), st.integers(0, 99999).map(lambda n: f"{n / 1000:.3f}"))


def attempts(item: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    group = st.lists(item, min_size=1, max_size=3).map(", ".join)
    return st.one_of(st.just("-"), st.lists(group, min_size=1, max_size=2).map(" : ".join))


text = st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'), max_size=30)
VALUES = {
    "remote_addr": ip,
    "time_local": st.tuples(st.integers(1, 28), st.sampled_from(["Jan", "Nov"]), st.integers(0, 23)).map(
        lambda t: f"{t[0]:02d}/{t[1]}/2026:{t[2]:02d}:05:09 +0100"
    ),
    "request": st.tuples(st.sampled_from(["GET", "POST"]), st.integers(0, 10**6)).map(
        lambda t: f"{t[0]} /a/{t[1]}?q=1 HTTP/1.1"
    ),
    "status": st.sampled_from(["200", "404", "499", "502", "503", "504", "009"]),
    "body_bytes_sent": st.integers(0, 10**7).map(str),
    "http_user_agent": text,
    "host": st.sampled_from(["example.com", "api.example.com", "-"]),
    "upstream_addr": attempts(addr),
    "upstream_status": attempts(st.sampled_from(["200", "502", "504", "-"])),
    "upstream_header_time": attempts(secs),
    "upstream_response_time": attempts(secs),
}
FREE = {"request", "http_user_agent"}  # may hold spaces: always quoted, as in real formats


@st.composite
def format_and_line(draw: st.DrawFn) -> tuple[str, dict[str, str], str]:
    names = draw(
        st.lists(st.sampled_from(sorted(set(VALUES) - {"status"})), min_size=1, max_size=7, unique=True)
    )
    names.insert(draw(st.integers(0, len(names))), "status")
    fmt_parts: list[str] = []
    line_parts: list[str] = []
    values: dict[str, str] = {}
    for i, name in enumerate(names):
        value = draw(VALUES[name])
        values[name] = value
        quoted = name in FREE or (name.startswith("upstream_") and draw(st.booleans()))
        sep = "" if i == 0 else draw(st.sampled_from([" ", " - ", " k="]))
        if name == "time_local":
            fmt_parts.append(f"{sep}[${name}]")
            line_parts.append(f"{sep}[{value}]")
        elif quoted:
            fmt_parts.append(f'{sep}"${name}"')
            line_parts.append(f'{sep}"{value}"')
        else:
            fmt_parts.append(f"{sep}${name}")
            line_parts.append(f"{sep}{value}")
    return "".join(fmt_parts), values, "".join(line_parts)


@settings(max_examples=120, deadline=None)
@given(format_and_line())
def test_quote_split_parser_agrees_with_the_regex(case: tuple[str, dict[str, str], str]) -> None:
    fmt, values, line = case
    cf = compile_format(fmt)
    m = re.match(cf.pattern, line)
    assert m, (cf.pattern, line)
    for name in cf.fields:
        assert m.group(name) == values[name], name
    parser = LineParser(cf)
    good, unparsed, _, rows = parser.parse(((line + "\n") * 3).encode())
    assert unparsed == 0 and rows == 3 and good.height == 3
    for name in cf.fields:
        expr = parser.finish_deferred(name, pl.col(name))
        if name == "status":  # a number when sliced, text when matched by a regex
            expr = expr.cast(pl.Int16, strict=False)
        got = good.select(expr).to_series().to_list()
        want = int(values[name]) if name == "status" else values[name]
        assert got == [want] * 3, (name, fmt, line)


json_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["http_user_agent", "host", "request", "upstream_addr"]), unique=True, max_size=4
    ),
    st.data(),
)
def test_escape_json_values_with_quotes_fall_back_to_the_regex(names: list[str], data: st.DataObject) -> None:
    import json

    names = ["status", *names]
    fmt = "{" + ",".join(f'"{n}":"${n}"' for n in names) + "}"
    values = {n: json.dumps(data.draw(json_text if n != "upstream_addr" else VALUES[n]))[1:-1] for n in names}
    values["status"] = "502"
    line = "{" + ",".join(f'"{n}":"{values[n]}"' for n in names) + "}"
    cf = compile_format(fmt, "json")
    good, unparsed, _, _ = LineParser(cf).parse((line + "\n").encode())
    assert unparsed == 0 and good.height == 1, (fmt, line)
    for name in cf.fields:
        got = good[name].cast(pl.Int16 if name == "status" else pl.String).to_list()
        assert got == [int(values[name]) if name == "status" else values[name]], name
