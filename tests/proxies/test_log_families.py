"""The catalog's log families (``patterns.toml`` ``[families]``, ``[heads]``) and the registry agree.

The parsers sit below the proxy registry in the layer order, so which source their phrase engine
and their session engine read is data (``catalog.patterns.families``); the layers above ask the
registry (``proxies.ENGINE``, ``Capability``).  Both must name the same proxies, or a line the
parsers give one source would be counted by the evidence as another's (issue 23).
"""

from __future__ import annotations

from why502 import proxies
from why502.catalog.patterns import families, load_patterns
from why502.parsers.errorlog import classify_line
from why502.proxies import PROXIES, Capability


def test_the_phrase_family_is_the_engine_proxy() -> None:
    assert families().phrase == proxies.ENGINE
    assert [n for n, p in PROXIES.items() if p.can(Capability.ENGINE_LOGS)] == [proxies.ENGINE]


def test_the_session_family_is_a_registered_proxy_with_key_rules() -> None:
    session = families().session
    assert session in PROXIES and PROXIES[session].can(Capability.HEALTH_CHECKED_SERVERS)
    assert any(p.source == session and p.key for p in load_patterns())


def test_every_head_is_of_a_source_with_rules() -> None:
    sources = {p.source for p in load_patterns()}
    assert set(families().heads) <= sources


def test_the_families_name_the_lines_they_read() -> None:
    """A recorded nginx line and a recorded HAProxy session line (tests/fixtures/recorded) get the
    families' sources, so the data above is what the engines use."""
    nginx = ('2026/11/23 09:19:40 [error] 31#31: *1 connect() failed (111: Connection refused) while '
             'connecting to upstream, client: 127.0.0.1, server: _, request: "GET / HTTP/1.1", '
             'upstream: "http://127.0.0.1:9/", host: "127.0.0.1"')
    got = classify_line(nginx)
    assert got is not None and got.source == families().phrase and got.symptom == "connection-refused"
    haproxy = ('<134>Nov 23 09:19:42 localhost haproxy[11350]: 127.0.0.1:54898 [23/Nov/2026:09:19:42.170] '
               'fe app/web1 0/0/-1/-1/0 503 217 - - SC-- 2/2/0/0/0 0/0 "GET / HTTP/1.1"')
    got = classify_line(haproxy)
    assert got is not None and got.source == families().session and got.upstream == "app/web1"
