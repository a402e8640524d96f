"""crossplane's lexer fed whole runs of characters (``proxies.nginx.config.lexfeed``) must read exactly the
tokens it reads one character at a time: the same token, line and quoted flag, the same brace
errors, on every config of the test fixtures and on generated hostile text."""

from __future__ import annotations

import io
from pathlib import Path

import crossplane
import pytest
from crossplane import lexer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from why502.proxies.nginx.config import lexfeed, parse_nginx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CONFIGS = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in (".conf", ".txt", "")
                 and p.stat().st_size < (1 << 20))


def _tokens(stream: object) -> list[object]:
    """Every token, or the error the stream ended with (its type, message and line)."""
    out: list[object] = []
    try:
        for tok in stream:  # type: ignore[attr-defined]
            out.append(tok)
    except crossplane.errors.NgxParserBaseException as err:
        out.append((type(err).__name__, err.strerror, err.lineno))
    return out


def _both(path: Path) -> tuple[list[object], list[object]]:
    return _tokens(lexer.lex(str(path))), _tokens(lexfeed.lex(str(path)))


def test_every_code_point_that_is_whitespace_to_crossplane_ends_a_unit() -> None:
    # crossplane tests char.isspace(); a run of ordinary characters must stop at exactly those
    special = set("\"'\\{};#$")
    wrong = [hex(c) for c in range(0x110000)
             if (len(lexfeed.units(f"x{chr(c)}x")) == 1) != (not chr(c).isspace() and chr(c) not in special)]
    assert wrong == []


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_the_fixture_configs_lex_to_the_same_tokens(path: Path) -> None:
    char_by_char, fed = _both(path)
    assert fed == char_by_char


def test_there_are_configs_to_compare() -> None:
    assert len(CONFIGS) > 100


PIECES = st.sampled_from(["server", "location", "/a b/", " ", "  ", "\t", "\n", "\r\n", "\r", "{", "}", ";",
                          "#", "# c\n", "$", "${", "${x}", "$x", '"', "'", '"a\\"b"', "'a b'", "\\", "\\\n",
                          "\\ ", "\\\"", "\u00a0", "\u2028", "\x1c", "\x85", "\u3000", "é", "\x00",
                          "content_by_lua_block", "if ($x) {", "x\\;y", "a#b", "map $a $b {"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PIECES | st.text(max_size=6), max_size=40))
@example(["${", "\xa0", "\xa0"])  # ${ takes the whitespace character that ends it into the token
@example(["${", "\\\n", "\xa0", "\xa0"])  # ... also after an escaped newline
def test_generated_text_lexes_to_the_same_tokens(tmp_path: Path, parts: list[str]) -> None:
    path = tmp_path / "x.conf"
    path.write_bytes("".join(parts).encode("utf-8", "surrogatepass"))
    char_by_char, fed = _both(path)
    assert fed == char_by_char


def test_units_put_back_together_are_the_text() -> None:
    text = 'a "b\\"c" ${d}\\\n# e\n\t{ f; }\u00a0x'
    assert "".join(lexfeed.units(text)) == text
    assert lexfeed.units("  \n") == ["  ", "\n"]  # a newline ends its unit


def test_crossplane_parses_through_the_feed(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n  server { listen 80; location / { proxy_pass http://a; } }\n}\n")
    parse_nginx(conf)  # installs the feed
    from crossplane import parser

    assert parser.lex is lexfeed.lex
    payload = crossplane.parse(str(conf), single=True, check_ctx=False)
    assert payload["config"][0]["parsed"][0]["block"][0]["block"][1]["line"] == 2


def test_a_lua_block_is_lexed_a_character_at_a_time(tmp_path: Path) -> None:
    # crossplane's lua extension reads the characters of the block itself
    conf = tmp_path / "lua.conf"
    conf.write_text("location / {\n  content_by_lua_block {\n    ngx.say('}')  -- }\n  }\n}\n")
    char_by_char, fed = _both(conf)
    assert fed == char_by_char
    assert any(t[0] == "content_by_lua_block" for t in fed if isinstance(t, tuple))


def test_unbalanced_braces_give_crossplane_s_error(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("http {\n server {\n")
    char_by_char, fed = _both(conf)
    assert fed == char_by_char
    assert fed[-1][0] == "NgxParserSyntaxError"


def test_the_lexer_reads_text_as_crossplane_does(tmp_path: Path) -> None:
    # universal newlines and replaced bad bytes, as crossplane's own io.open
    conf = tmp_path / "crlf.conf"
    conf.write_bytes(b"a \xff;\r\nb\rc;\n")
    char_by_char, fed = _both(conf)
    assert fed == char_by_char == _tokens(lexer._lex_file_object(io.StringIO("a \ufffd;\nb\nc;\n")))


def test_a_file_included_many_times_is_parsed_once_and_its_problems_said_once(tmp_path: Path) -> None:
    (tmp_path / "params.conf").write_text("proxy_set_header Host $host;\nproxy_read_timeout;\n")
    locations = "".join(f"    location /l{i}/ {{ include params.conf; proxy_pass http://a; }}\n"
                        for i in range(4))
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n  server {\n" + locations + "  }\n}\n")
    cfg = parse_nginx(conf)
    locs = cfg.all_locations()
    assert len(locs) == 4
    assert all(loc.effective("proxy_set_header").entries for loc in locs)  # every include is there
    problems = [p for p in cfg.problems if "proxy_read_timeout" in p.message]
    assert len(problems) == 1, cfg.problems
