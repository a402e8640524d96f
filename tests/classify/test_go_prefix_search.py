"""The Go-proxy prefix rules, searched in linear time, find what ``rx.search`` finds.

``parsers.go_prefix`` finds each branch's first start by reasoning about which later starts an
earlier one covers, then asks the rule's regex at that one place.  These tests compare it with
the plain search on the catalog's examples and the recorded Caddy, cloudflared and Traefik lines,
and on generated lines built from the pieces the branches turn on (heads twice, quotes, ``": "``,
newlines, whitespace runs, ``",`` inside a dotted logger name).  The generated lines are shapes,
not any program's output.  Turning off any of the module's rules (the quote bound of the tail,
the newline bound of ``.*?``, a head's ``": "``, either whitespace end of Caddy's logger, the
start-of-line alternative) gave 9 to 191 differences on these cases.
"""

from __future__ import annotations

import json
import random
import re

from tests.support.paths import FIXTURES_DIR
from why502.catalog.patterns import load_patterns
from why502.parsers import errorlog
from why502.parsers.go_prefix import SHORT, GoPrefixSearch, go_prefix_of, go_prefix_search
from why502.parsers.rule_search import LiteralFirst

_PIECES = (
    "upstream roundtrip", 'upstream roundtrip"', "http.log.error", "http.log.error.log0", "http.log.error.",
    "Unable to reach the origin service", "Unable to reach the origin service: ",
    "responding to traffic from cloudflared: ", "[ERROR 502 ", "[ERROR 503 x] ", "HTTP 502: ", "xHTTP 502: ",
    '"msg":"handling connection"', '"msg" : "handling connection"', '"msg"\n:"handling connection"',
    '"error":"', 'error: "', 'error="', 'error"="', '"error" :\n "', ": ", '"', " ", "  ", "\n", "\t", '",',
    '","msg":"', '", "msg" : "', "x509: ", "tls: ", "dial tcp 10.0.0.1:80: ", "connect: connection refused",
    "lookup db on 10.0.0.2:53: ", "lookup db", "no such host", "i/o timeout", "EOF", "unexpected EOF",
    " 502 ", "502 Bad Gateway ", "GOAWAY", "dial unix /run/app.sock: connect: no such file or directory",
    "no upstreams available", '"no upstreams available', "unreachable backend", "reading: ", "a", ".", "]",
    "] ",
    '"msg":"', "connection reset by peer", "timeout awaiting response headers", ":", "=",
    "dial tcp <nil>: i/o timeout",
)
_NEEDLES = ("unable to reach the origin service", "traffic from cloudflared", "http.log.error", "[error 5",
            "upstream roundtrip", "handling connection", "http 5")


def _rules() -> list[tuple[str, re.Pattern[str], GoPrefixSearch]]:
    out = []
    for p in load_patterns():
        rx = re.compile(p.match or "")
        if p.match and (linear := go_prefix_search(rx)) is not None:
            out.append((p.id, rx, linear))
    return out


def _recorded_lines() -> list[str]:
    lines: list[str] = []
    recorded = [*FIXTURES_DIR.glob("recorded/caddy-*/caddy.out"),
                *FIXTURES_DIR.glob("public/cloudflared/*.log")]
    for path in recorded:
        lines += path.read_text(errors="replace").splitlines()
    for path in FIXTURES_DIR.glob("edge-field/*/lines.jsonl"):
        for row in path.read_text().splitlines():
            line = json.loads(row).get("line")
            if isinstance(line, str):
                lines.append(line)
    return [line for line in lines if any(n in line.lower() for n in _NEEDLES)]


def _cases() -> list[str]:
    rnd = random.Random(83)
    examples = [p.example for p in load_patterns() if p.example and p.source == "go-proxy"]
    cases = [*examples, *_recorded_lines()]
    cases += ["".join(rnd.choice(_PIECES) for _ in range(rnd.randrange(1, 16))) for _ in range(4000)]
    for ex in examples:
        for _ in range(30):
            cut = rnd.randrange(len(ex) + 1)
            cases.append(ex[:cut] + "".join(rnd.choice(_PIECES) for _ in range(rnd.randrange(4))) + ex[cut:])
    return cases


def _same(a: re.Match[str] | None, b: re.Match[str] | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.span() == b.span() and a.groups() == b.groups()


def test_every_go_proxy_rule_with_the_prefix_is_searched_linearly() -> None:
    """The fourteen rules that share the prefix are read as its seven shapes (an edit of the
    prefix that breaks a shape would silently leave them to the quadratic search), and the
    classifier's rules are the wrapped searchers."""
    ids = [rid for rid, _, _ in _rules()]
    sharing = [p.id for p in load_patterns() if p.match and "|upstream roundtrip" in p.match]
    assert len(ids) >= 14 and ids == sharing, (ids, sharing)
    assert {"go-proxy-eof", "go-proxy-no-upstreams", "go-proxy-socket-not-found"} <= set(ids)
    wrapped = {p.id for p, rx, _ in errorlog._match_rules()
               if isinstance(rx.inner if isinstance(rx, LiteralFirst) else rx, GoPrefixSearch)}
    assert wrapped == set(ids)


def test_the_prefix_is_read_from_the_rule_and_its_shapes_checked() -> None:
    tls = next(p.match for p in load_patterns() if p.id == "go-proxy-tls")
    assert tls is not None
    prefix = go_prefix_of(tls)
    assert prefix is not None and prefix.extra == "" and prefix.suffix.startswith("(?:x509: ")
    assert prefix.literals == ("Unable to reach the origin service",
                               "responding to traffic from cloudflared: ", "http.log.error", "",
                               "upstream roundtrip", "handling connection", "")
    eof = next(p.match for p in load_patterns() if p.id == "go-proxy-eof")
    assert eof is not None and (got := go_prefix_of(eof)) is not None and "502" in got.extra
    # a shape changed is not read as the prefix: the finders' reasoning would not hold
    assert go_prefix_of(tls.replace('service[^:"]*: ', 'service[^"]*: ', 1)) is None
    assert go_prefix_of(tls.replace(r"(?:\.\S+?)?", r"(?:\.\S*?)?", 1)) is None
    assert go_prefix_of(tls.replace("upstream roundtrip", "upstream round trip", 1)) is not None
    assert go_prefix_of(tls.replace("http\\.log\\.error", "http\\.log error", 1)) is None  # a space
    assert go_prefix_of(tls.replace("Unable to reach", "Unable: to reach", 1)) is None  # a colon
    assert go_prefix_of(r"(?:a|b)c") is None and go_prefix_of("x509") is None


def test_first_start_then_match_is_the_plain_search() -> None:
    rules = _rules()
    found = 0
    hit_rules: set[str] = set()
    for case in _cases():
        for rid, rx, linear in rules:
            plain = rx.search(case)
            start = linear.first_start(case)
            mine = None if start is None else rx.match(case, start)
            assert _same(plain, mine), (rid, case)
            found += plain is not None
            if plain is not None:
                hit_rules.add(rid)
    assert found > 1000 and len(hit_rules) == len(rules), (found, sorted(hit_rules))


def test_search_of_a_long_line_is_the_plain_search() -> None:
    """Through ``search`` itself: the cases padded past ``SHORT`` on either side."""
    rules = _rules()
    pad = "p" * SHORT
    for case in _cases()[::7]:
        for text in (pad + case, case + " " + pad):
            for rid, rx, linear in rules:
                assert _same(rx.search(text), linear.search(text)), (rid, text)
