"""Location matching (``why502.proxies.nginx.config.locations``) against a real nginx as the oracle.

Every location of the test config answers with ``X-Loc: <token>`` (``add_header ... always``,
so the 301 of an auto redirect carries it too); a request that no location took has no
``X-Loc``.  A few hundred generated request targets and Host headers go to two ports of a real
nginx (lab runtime, 127.0.0.1, random ports, stopped by PID), and the polars expression must
name, for every one, the location nginx named.
"""

from __future__ import annotations

import http.client
import itertools
import random
import re
from pathlib import Path

import polars as pl
import pytest

from why502.lab.runtime import Stack, find_nginx, free_port
from why502.proxies.nginx.config import NginxConfig, locations, parse_nginx
from why502.proxies.nginx.config.locations import (
    location_expr,
    match_location_py,
    match_notes,
    merge_slashes_from_config,
)
from why502.proxies.nginx.config.match import NO_LOCATION, rules_from_config
from why502.proxies.nginx.config.pcre import pcre_to_rust
from why502.proxies.nginx.config.servers import server_expr
from why502.proxies.nginx.config.uri import byte_text, nginx_uri, normalize_uri_py

R = 'add_header X-Loc "{t}" always; return 200 "{t}\\n";'

# @@ becomes a unique token per location; PORT_A, PORT_B, PORT_C the listen ports
CONFIG = r"""
server {
    listen PORT_A; server_name exact.test www.exact.test;
    location / { @@ }
    location = / { @@ }
    location = /exact { @@ }
    location /exact { @@ }
    location =/one-arg { @@ }
    location /docs/ { @@
        location /docs/deep/ { @@ }
        location ~ \.txt$ { @@ }
        location ^~ /docs/stop/ { @@ }
    }
    location ^~ /static/ { @@
        location ~ \.css$ { @@ }
    }
    location ~ \.(php|txt)$ { @@ }
    location ~* \.JPG$ { @@ }
    location ~ ^/api/(?!internal) { @@ }
    location ~ ^/(\w+)/\1$ { @@ }
    location /api/ { @@ }
    location /app/ { @@ proxy_pass http://127.0.0.1:DEAD; }
    location = /exactapp/ { @@ fastcgi_pass 127.0.0.1:DEAD; }
    location ~ ^/re(?<n>[0-9]+)\Z { @@
        location ~ 7$ { @@ }
    }
    location @named { @@ }
    location /café/ { @@ }
    location ~ "^/é.$" { @@ }
}
server {
    listen PORT_A; server_name *.wild.test;
    location / { @@ }
    location ~ ^/w { @@ }
}
server {
    listen PORT_A; server_name deep.wild.test;
    location / { @@ }
}
server {
    listen PORT_A; server_name *.deep.wild.test;
    location / { @@ }
}
server {
    listen PORT_A; server_name .dot.test;
    location / { @@ }
}
server {
    listen PORT_A; server_name www.tail.*;
    location / { @@ }
}
server {
    listen PORT_A; server_name www.tail.co.*;
    location / { @@ }
}
server {
    listen PORT_A; server_name "~^(?<sub>[a-z]+)\.rx\.test$";
    location / { @@ }
    location ^~ /stop/ { @@ }
    location ~ stop { @@ }
}
server {
    listen PORT_A; server_name ~^UP\d+\.test$;
    location / { @@ }
}
server {
    listen PORT_A; server_name "~^(?!www\.)[a-z]+\.neg\.test$" Mixed.Test;
    location / { @@ }
}
server {
    listen PORT_A default_server; server_name def.test;
    location /d/ { @@ }
    location ~ ^/d[0-9] { @@ }
}
server {
    listen PORT_B; server_name exact.test;
    location ~ ^/ { @@ }
    location = /exact/ { @@ }
}
server {
    listen PORT_B; server_name other.test;
    location /o/ { @@ }
}
server {
    listen PORT_B;
    location /nameless/ { @@ }
}
server {
    listen PORT_A; server_name nomerge.test; merge_slashes off;
    location / { @@ }
    location /x//y/ { @@ }
}
server {
    listen PORT_C; server_name slashes.test; merge_slashes off;
    location / { @@ }
    location /a/ { @@ }
    location /a//b/ { @@ }
    location ~ ^/a//c { @@ }
}
"""
# merge_slashes is read from the port's default server, before the Host header picks one
# (ngx_http_process_request_uri()): nomerge.test still gets merged slashes, port C does not.
SLASH_TARGETS = ["/a//b/x", "/a/b/x", "//a//c", "/a//c", "/a/./b", "/a//b/../x", "//", "/a///b/",
                 "/a%2F/b/", "/a/%2Fc"]

HOSTS = [
    "exact.test", "EXACT.test", "www.exact.test", "exact.test.", "a.wild.test", "a.b.wild.test",
    "wild.test", "deep.wild.test", "x.deep.wild.test", "dot.test", "x.dot.test", "www.tail.com",
    "www.tail.co.uk", "www.tail", "abc.rx.test", "ABC.rx.test", "1.rx.test", "up12.test",
    "UP7.test", "unknown.test", "def.test", "127.0.0.1", "other.test", "abc.neg.test",
    "www.neg.test", "mixed.test", "exact.test:8080", "[::1]:80",
]
SEGMENTS = [
    "", "docs", "deep", "stop", "static", "api", "internal", "exact", "exactapp", "app", "w",
    "d", "d1", "x.txt", "a.css", "b.php", "c.JPG", "c.jpg", "foo", "one-arg", "re12", "re7",
    ".", "..", "%2e", "%2E%2E", "%2F", "%61pi", "a%3Fb", "%41", "o",
]


N_FIXED = 54


def _targets(rng: random.Random, n: int) -> list[str]:
    fixed = [
        "/", "/exact", "/exact/", "/exactx", "/one-arg", "/=/one-arg", "/docs/", "/docs/a.txt",
        "/docs/deep/a.txt", "/docs/stop/a.txt", "/docs/stop/a.css", "/static/a.css",
        "/static/a.txt", "/a.JPG", "/a.jpg", "/api/x", "/api/internal", "/foo/foo", "/foo/bar",
        "/app", "/app/", "/app/x", "/exactapp", "/exactapp/", "/re12", "/re17", "/re17?x",
        "/docs//deep/x", "/docs/./deep/x", "/docs/x/../deep/y", "/%64ocs/deep/", "/..", "/a/%zz",
        "/stop/a", "/stop", "/w", "/d/", "/d1", "/o/", "//app", "/x#frag", "/a%2Fb/../c.txt",
        "/re1%0A", "/x.php%0A", "/docs/a.TXT", "/api/%69nternal",
        "http://exact.test/docs/deep/", "/exact?x=/docs/", "/caf%C3%A9/x", "/caf%c3%a9/",
        "/%C3%A9x", "/%C3%A9%C3%A9", "/%C3%A9%FF", "/caf%C3%A9",
    ]
    assert len(fixed) == N_FIXED
    out = list(fixed)
    while len(out) < n:
        k = rng.randint(1, 4)
        path = "/" + "/".join(rng.choice(SEGMENTS) for _ in range(k))
        if rng.random() < 0.15:
            path += "?q=" + rng.choice(SEGMENTS)
        out.append(path)
    return out


def build_config(dead: int, port_a: int, port_b: int, port_c: int) -> str:
    """The test config with its ports filled in and a token per location."""
    tokens = (f"L{i}" for i in itertools.count(1))
    text = CONFIG.replace("PORT_A", f"127.0.0.1:{port_a}").replace("PORT_B", f"127.0.0.1:{port_b}")
    text = text.replace("PORT_C", f"127.0.0.1:{port_c}").replace("DEAD", str(dead))
    return re.sub(r"@@", lambda _m: R.format(t=next(tokens)), text)


def _labels_by_token(cfg: NginxConfig) -> dict[str, str]:
    """The token each location answers with -> the label the breakdown gives it (read from the
    parsed config, not from the location matcher)."""
    out: dict[str, str] = {}
    for server in cfg.servers:
        for loc in server.all_locations():
            for d in loc.directives:
                if d.name == "add_header" and d.args[0] == "X-Loc":
                    out[d.args[1]] = f"{server.name or '_'} {loc.label}"
    return out


def _ask(port: int, target: str, host: str | None) -> tuple[int, str | None]:
    """One request; ``host=None`` sends HTTP/1.0 without a Host header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    if host is None:
        conn._http_vsn, conn._http_vsn_str = 10, "HTTP/1.0"  # type: ignore[attr-defined]
    try:
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.putheader("Connection", "close")
        conn.endheaders()
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Loc")
    finally:
        conn.close()


def _request_host(target: str, host: str) -> str:
    """``$host``: the host of an absolute target wins over the Host header."""
    m = re.match(r"[a-z]+://([^/?#]*)", target)
    return m.group(1) if m else host


@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
def test_expression_names_the_location_nginx_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(502)
    targets = _targets(rng, 260)
    with Stack() as stack:
        port_b, port_c = free_port(), free_port()
        stack.start_nginx(build_config(free_port(), stack.nginx_port, port_b, port_c))
        cfg = parse_nginx(str(stack.p.nginx_conf))
        labels = _labels_by_token(cfg)
        rows = []
        plan: list[tuple[str, str | None, int]] = [
            (t, "exact.test", stack.nginx_port) for t in targets[:N_FIXED]]
        plan += [("/o/x", "other.test", port_b), ("/exact/", "exact.test", port_b),
                 ("/exact", "exact.test", port_b), ("/o/", "nobody.test", port_b),
                 ("/x//y/z", "nomerge.test", stack.nginx_port), ("/x/y/z", "nomerge.test", stack.nginx_port)]
        plan += [(t, h, port_c) for t in SLASH_TARGETS for h in ("slashes.test", "exact.test")]
        plan += [("/nameless/x", None, port_b), ("/d/", None, stack.nginx_port)]
        for i, target in enumerate(targets):
            name = HOSTS[i % len(HOSTS)] if i % 3 else rng.choice(HOSTS)
            plan.append((target, name, stack.nginx_port if i % 7 else port_b))
        for target, host, port in plan:
            status, token = _ask(port, target, host)
            # without a Host header nginx looks up the empty name; $host would be "" or the
            # chosen server's first name, both of which lead back to the same server
            rows.append({"target": target, "host": _request_host(target, host or ""), "port": port,
                         "status": status, "nginx": labels[token] if token else NO_LOCATION})
        stack.stop()
    rules = rules_from_config(cfg)
    merge = pl.col("port") != port_c
    uri = pl.when(merge).then(nginx_uri(pl.col("target"))).otherwise(
        nginx_uri(pl.col("target"), merge_slashes=False))
    # the unique-pairs plan, every test on every row, then the Python index of big servers
    for direct, indexed in ((0, 10_000), (10_000, 10_000), (0, 0)):
        monkeypatch.setattr(locations, "DIRECT_TESTS", direct)
        monkeypatch.setattr(locations, "INDEXED_LOCATIONS", indexed)
        df = pl.DataFrame(rows).with_columns(
            location_expr(rules, uri, pl.col("host"), port_col=pl.col("port")).alias("ours")
        )
        bad = df.filter(pl.col("ours") != pl.col("nginx"))
        assert bad.is_empty(), bad.select("target", "host", "port", "status", "nginx", "ours").rows()
    # the oracle really exercised the hard cases
    got = set(df["nginx"])
    for want in ("exact.test = /exact", "exact.test /app/", "exact.test = /exactapp/",
                 "exact.test ~ ^/api/(?!internal)", "exact.test ~ ^/(\\w+)/\\1$",
                 "exact.test ~ \\.txt$", "exact.test ~ \\.css$", "exact.test ~ 7$",
                 "*.deep.wild.test /", ".dot.test /", "www.tail.* /", "www.tail.co.* /",
                 "~^UP\\d+\\.test$ /", "def.test /d/", "exact.test ~ ^/", "other.test /o/",
                 "slashes.test /a//b/", "slashes.test ~ ^/a//c", "nomerge.test /", "_ /nameless/",
                 "~^(?!www\\.)[a-z]+\\.neg\\.test$ /", "exact.test /café/", "exact.test ~ ^/é.$",
                 NO_LOCATION):
        assert want in got, want
    assert (df["status"] == 301).any() and (df["status"] == 400).any()
    # and the one-request reference agrees with nginx too
    for r in df.iter_rows(named=True):
        want_uri = normalize_uri_py(r["target"], merge_slashes=r["port"] != port_c)
        assert match_location_py(rules, want_uri, r["host"], str(r["port"])) == r["nginx"], r


CONF_FOR_UNITS = """
http {
  server {
    listen 8080 default_server; listen 8443 ssl; server_name a.test *.a.test;
    location / {
      location /x/ { proxy_pass http://127.0.0.1:9; }
      if ($arg_q) { return 404; }
    }
    location =/exact { }
    location ^~/stop { }
    location ~*\\.PNG$ { }
    location @fallback { }
  }
  server { listen 8080; }
  server { server_name ~^(?<a>x)(?=y); location / { } }
}
"""


def test_rules_keep_nesting_servers_and_one_argument_modifiers(tmp_path: Path) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text(CONF_FOR_UNITS)
    rules = rules_from_config(parse_nginx(str(p)))
    shape = [(r.kind, r.pattern, r.label, r.parent, r.server) for r in rules]
    assert shape == [
        ("server", "", "a.test", None, 0),
        ("prefix", "/", "a.test /", None, 0),
        ("prefix", "/x/", "a.test /x/", 1, 0),
        ("exact", "/exact", "a.test =/exact", None, 0),
        ("prefix_stop", "/stop", "a.test ^~/stop", None, 0),
        ("regex_ci", "\\.PNG$", "a.test ~*\\.PNG$", None, 0),
        ("server", "", "_", None, 6),
        ("server", "", "~^(?<a>x)(?=y)", None, 7),
        ("prefix", "/", "~^(?<a>x)(?=y) /", None, 7),
    ]
    first = rules[0]
    assert first.ports == ("8080", "8443") and first.default_ports == ("8080",)
    assert first.server_names == ("a.test", "*.a.test")
    assert rules[2].auto_redirect and not rules[1].auto_redirect
    assert rules[6].server_names == ("",) and rules[7].ports == ("80",)
    notes = match_notes(rules)
    assert any("several ports" in n for n in notes)


def test_server_choice_without_port_prefers_the_port_with_locations(tmp_path: Path) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text(
        "http {\n"
        " server { listen 80; server_name a.test; return 301 https://$host$request_uri; }\n"
        " server { listen 80; server_name b.test; return 301 https://$host$request_uri; }\n"
        " server { listen 443 ssl; server_name a.test; location / { } }\n"
        " server { listen 443 ssl; server_name b.test; location / { } location /b/ { } }\n"
        "}\n"
    )
    rules = rules_from_config(parse_nginx(str(p)))
    df = pl.DataFrame({"host": ["a.test", "B.TEST:443", "zzz"], "uri": ["/", "/b/", "/"]})
    got = df.select(location_expr(rules, pl.col("uri"), pl.col("host"))).to_series().to_list()
    assert got == ["a.test /", "b.test /b/", "a.test /"]  # zzz: 443's first server is its default
    on80 = df.select(location_expr(rules, pl.col("uri"), pl.col("host"), port_col=pl.lit(80)))
    assert on80.to_series().to_list() == [NO_LOCATION] * 3  # the redirect servers
    ids = df.select(server_expr(rules, pl.col("host"), pl.lit("80"))).to_series().to_list()
    assert ids == [0, 1, 0]
    assert any("port 443" in n for n in match_notes(rules))


@pytest.mark.parametrize(
    ("target", "uri"),
    [
        ("/a/b/../c?x=1", "/a/c"),
        ("/a//b", "/a/b"),
        ("/a/./b/.", "/a/b/"),
        ("/a/%2e%2e/b", "/b"),
        ("/%41%2F/x", "/A/x"),
        ("/a%3Fb?c", "/a?b"),
        ("/a%23b#frag", "/a#b"),
        ("http://h.test/p?q", "/p"),
        ("/..", None),
        ("/a%zz", None),
        ("/a%00", None),
    ],
)
def test_uri_normalisation(target: str, uri: str | None) -> None:
    assert normalize_uri_py(target) == uri
    got = pl.DataFrame({"t": [target, "/plain?x"]}).select(nginx_uri(pl.col("t"))).to_series()
    assert got.to_list() == [uri, "/plain"]


def test_bytes_survive_normalisation_and_count_as_nginx_counts_them() -> None:
    uri = normalize_uri_py("/%FF%C3%A9")
    assert uri == "/\uf7ffé"  # readable where UTF-8, the stray byte kept in the private-use area
    assert byte_text(uri) == "/\xff\xc3\xa9"  # one character per byte for matching
    assert byte_text("/plain") == "/plain"


def test_merge_slashes_off_keeps_them(tmp_path: Path) -> None:
    assert normalize_uri_py("/a//b/", merge_slashes=False) == "/a//b/"
    assert normalize_uri_py("/a//b/../c", merge_slashes=False) == "/a//c"
    p = tmp_path / "nginx.conf"
    p.write_text("http { merge_slashes off; server { listen 80; } }\n")
    assert merge_slashes_from_config(parse_nginx(str(p))) is False
    p.write_text("http { server { listen 80; } server { listen 80; merge_slashes off; } }\n")
    assert merge_slashes_from_config(parse_nginx(str(p))) is True  # the default server's


@pytest.mark.parametrize(
    ("pcre", "rust"),
    [
        (r"\.php$", r"\.php(?:\n?\z)"),
        (r"^/[\w-]+/\d", r"^/[0-9A-Za-z_-]+/[0-9]"),
        (r"(?<id>\d+)", r"(?<id>[0-9]+)"),
        (r"^/(?!api)", None),
        (r"(a)\1", None),
        (r"a++", None),
        (r"(?>a)", None),
    ],
)
def test_pcre_translation(pcre: str, rust: str | None) -> None:
    assert pcre_to_rust(pcre) == rust


@pytest.mark.parametrize("indexed", [10_000, 0])
def test_expression_agrees_with_the_reference_on_many_generated_requests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, indexed: int) -> None:
    """No nginx here: the vectorised expression (and the Python index of big servers) against
    the one-request port of ngx_http_core_find_location() (which the real-nginx test checks) on
    3000 requests."""
    monkeypatch.setattr(locations, "INDEXED_LOCATIONS", indexed)
    text = build_config(9, 8080, 8081, 8082)
    p = tmp_path / "nginx.conf"
    p.write_text("events {}\nhttp {\n" + text + "}\n")
    rules = rules_from_config(parse_nginx(str(p)))
    rng = random.Random(7)
    targets = _targets(rng, 3000)
    hosts = [rng.choice(HOSTS) for _ in targets]
    ports = [rng.choice(["8080", "8081", "8082"]) for _ in targets]
    df = pl.DataFrame({"t": targets, "h": hosts, "p": ports}).with_columns(
        location_expr(rules, nginx_uri(pl.col("t")), pl.col("h"), port_col=pl.col("p")).alias("got")
    )
    want = [match_location_py(rules, normalize_uri_py(t), h, p) for t, h, p in zip(targets, hosts, ports)]
    assert df["got"].to_list() == want


# -- random location trees, nginx as the oracle ---------------------------------------------

PIECES = ["a", "b", "ab", "x", "B"]
REGEXES = ["a$", "^/a/b", "b", "\\.x$", "^/(a|b)/?$", "x/", "ab", "^/a(?=b)"]


def _random_level(rng: random.Random, parent: str | None, depth: int, budget: list[int],
                  names: list[str]) -> list[str]:
    """Location blocks for one level.  ``parent`` is the enclosing prefix (None: the server or
    a regex location, where only regexes may nest).  As nginx requires: a nested prefix starts
    with its parent's name, no name twice at a level, nothing inside an exact location."""
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(rng.randint(2, 5) if depth == 0 else rng.randint(1, 3)):
        if budget[0] <= 0:
            break
        budget[0] -= 1
        prefix_ok = depth == 0 or parent is not None
        if prefix_ok and rng.random() < 0.6:
            name = (parent or "").rstrip("/") + "/" + "/".join(
                rng.choice(PIECES) for _ in range(rng.randint(1, 2)))
            name += "/" if rng.random() < 0.3 else ""
            names.append(name)
            kind = rng.choice(["=", "^~", "", ""])
            key = ("=" if kind == "=" else "") + name
            if key in seen or name == parent:
                continue
            seen.add(key)
            kids = _random_level(rng, name, depth + 1, budget, names) if kind != "=" and depth < 2 else []
            out.append(f"location {kind} {name} {{ @@ {' '.join(kids)} }}")
        else:
            mod = rng.choice(["~", "~", "~*"])
            rx = rng.choice(REGEXES)
            if mod + rx in seen:
                continue
            seen.add(mod + rx)
            kids = (_random_level(rng, None, depth + 1, budget, names)
                    if depth < 2 and rng.random() < 0.3 else [])
            out.append(f'location {mod} "{rx}" {{ @@ {" ".join(kids)} }}')
    return out


@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_location_trees_match_nginx(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    names: list[str] = []
    body = " ".join(_random_level(rng, None, 0, [16], names))
    tokens = (f"T{i}" for i in itertools.count(1))
    server = "server { listen PORT; server_name r.test; " + body + " }"
    tails = [*PIECES, "a.x", "", "x/"]
    targets = [(rng.choice(names).rstrip("/")[: rng.randint(1, 12)] if names and rng.random() < 0.7 else "")
               + "/" + "/".join(rng.choice(tails) for _ in range(rng.randint(0, 2))) for _ in range(150)]
    with Stack() as stack:
        stack.start_nginx(re.sub("@@", lambda _m: R.format(t=next(tokens)),
                                 server.replace("PORT", stack.listen)))
        cfg = parse_nginx(str(stack.p.nginx_conf))
        labels = _labels_by_token(cfg)
        rows = []
        for t in targets:
            status, token = _ask(stack.nginx_port, t, "r.test")
            rows.append({"t": t, "status": status, "nginx": labels[token] if token else NO_LOCATION})
        stack.stop()
    rules = rules_from_config(cfg)
    for indexed in (10_000, 0):  # the polars expression, then the Python index of big servers
        monkeypatch.setattr(locations, "INDEXED_LOCATIONS", indexed)
        df = pl.DataFrame(rows).with_columns(
            location_expr(rules, nginx_uri(pl.col("t")), pl.lit("r.test")).alias("ours"))
        bad = df.filter(pl.col("ours") != pl.col("nginx"))
        assert bad.is_empty(), (indexed, body, bad.rows())
    assert df["nginx"].n_unique() >= 3  # the tree was really exercised


URI_PIECES = ["a", "b", ".", "..", "%2e", "%2E%2e", "%2F", "%25", "%23", "%3F", "", "%41", "b%20c",
              "%7e", "%C3%A9", "%zz", "%2", "x.y", "+", "%00"]


@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
def test_uri_normalisation_matches_nginx_uri_variable() -> None:
    """normalize_uri_py() against nginx's own ``$uri`` (or its 400) for generated targets,
    with merge_slashes on (port A) and off (port B)."""
    rng = random.Random(400)
    targets = []
    for _ in range(200):
        t = "/" + "/".join(rng.choice(URI_PIECES) for _ in range(rng.randint(1, 5)))
        t += rng.choice(["", "", "?q=%2F..", "#frag", "/"])
        targets.append(t)
    with Stack() as stack:
        port_b = free_port()
        stack.start_nginx(
            f'server {{ listen {stack.listen}; location / {{ return 200 "$uri"; }} }}\n'
            f'server {{ listen 127.0.0.1:{port_b}; merge_slashes off; '
            'location / { return 200 "$uri"; } }\n'
        )
        seen = []
        for t in targets:
            for port, merge in ((stack.nginx_port, True), (port_b, False)):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                try:
                    conn.putrequest("GET", t, skip_host=True, skip_accept_encoding=True)
                    conn.putheader("Host", "u.test")
                    conn.endheaders()
                    resp = conn.getresponse()
                    body = resp.read()
                finally:
                    conn.close()
                want = body.decode("utf-8", "replace") if resp.status == 200 else None
                seen.append((t, merge, resp.status, want, normalize_uri_py(t, merge)))
        stack.stop()
    bad = [row for row in seen if row[3] != row[4]]
    assert not bad, bad[:10]
    assert sum(1 for row in seen if row[3] is None) >= 5  # some 400s were in the mix
    df = pl.DataFrame({"t": [r[0] for r in seen], "m": [r[1] for r in seen],
                       "nginx": [r[3] for r in seen]})
    df = df.with_columns(pl.when(pl.col("m")).then(nginx_uri(pl.col("t")))
                         .otherwise(nginx_uri(pl.col("t"), merge_slashes=False)).alias("ours"))
    assert df.filter(pl.col("ours").ne_missing(pl.col("nginx"))).is_empty()


# -- random server names and random regexes, nginx as the oracle -----------------------------

NAME_POOL = ["a.test", "b.a.test", "*.a.test", ".a.test", "*.b.a.test", "www.*", "www.a.*", "b.*",
             "~^b\\.", "~a\\.test$", "~^(?<x>[ab])\\.", "~^W", "~^(?!www)\\w+\\.a\\.", "x.test"]
HOST_POOL = ["a.test", "b.a.test", "c.b.a.test", "www.a.test", "www.a.co", "www", "b.x", "w.a.test",
             "A.test", "x.test", "www.a", "b.a.test.", "a.test:81", "wa.test", "c.a.test"]


@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
@pytest.mark.parametrize("seed", [1, 2, 3, 16, 24])  # 16, 24: ".a.test" vs "a.test" / "*.a.test"
def test_random_server_names_match_nginx(seed: int) -> None:
    """Random server_name sets (exact, both wildcards, regexes, conflicts: nginx keeps the first)
    and a random default_server; every server answers its own token at ``/``."""
    rng = random.Random(seed)
    n = rng.randint(3, 6)
    default = rng.randrange(n + 1)  # n: no default_server, the first server is the default
    blocks = []
    for i in range(n):
        names = " ".join(f'"{x}"' for x in rng.sample(NAME_POOL, rng.randint(1, 3)))
        flag = " default_server" if i == default else ""
        blocks.append(f"server {{ listen PORT{flag}; server_name srv{i}.invalid {names}; "
                      "location / { @@ } }")
    tokens = (f"S{i}" for i in itertools.count(1))
    text = re.sub("@@", lambda _m: R.format(t=next(tokens)), "\n".join(blocks))
    with Stack() as stack:
        stack.start_nginx(text.replace("PORT", stack.listen))
        cfg = parse_nginx(str(stack.p.nginx_conf))
        labels = _labels_by_token(cfg)
        rows = []
        for host in HOST_POOL:
            _status, token = _ask(stack.nginx_port, "/", host)
            rows.append({"host": host, "nginx": labels[token] if token else NO_LOCATION})
        stack.stop()
    rules = rules_from_config(cfg)
    df = pl.DataFrame(rows).with_columns(location_expr(rules, pl.lit("/"), pl.col("host")).alias("ours"))
    bad = df.filter(pl.col("ours") != pl.col("nginx"))
    assert bad.is_empty(), (text, bad.rows())
    assert df["nginx"].n_unique() >= 2


REGEX_PIECES = ["\\d+", "\\w", "[a-c]", "[^/]+", "\\.", "x{2}", "(a|b)", "\\b", "\\s", "[[:digit:]]",
                "A", "\\W", "[\\d.]", "/", "z?", ".", "[A-Z]", "é", "[[:alpha:]]"]


@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_random_regexes_match_nginx(seed: int) -> None:
    """PCRE meaning on the Rust engine: ASCII classes, ``$``/``\\Z`` before a final newline,
    ``\\b``, POSIX classes, ``~*``; random patterns against targets with digits, spaces, upper
    case, a trailing newline and non-ASCII bytes (UTF-8 and not), ``é`` in a pattern."""
    rng = random.Random(seed)
    blocks: list[str] = []
    seen: set[str] = set()
    while len(blocks) < 8:
        rx = "".join(rng.choice(REGEX_PIECES) for _ in range(rng.randint(1, 3)))
        rx = ("^/" if rng.random() < 0.4 else "") + rx + rng.choice(["", "", "$", "\\Z"])
        mod = rng.choice(["~", "~*"])
        if mod + rx in seen:
            continue
        seen.add(mod + rx)
        blocks.append(f'location {mod} "{rx}" {{ @@ }}')
    tokens = (f"X{i}" for i in itertools.count(1))
    server = "server { listen PORT; server_name r.test; location / { @@ } " + " ".join(blocks) + " }"
    text = re.sub("@@", lambda _m: R.format(t=next(tokens)), server)
    pieces = ["a", "B", "7", "42", "xx", "a.b", "%20", "%0A", "%C3%A9", "c", "_", "A1", "ab", "%FF",
              "%C3%89"]
    targets = ["/" + "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))) for _ in range(150)]
    with Stack() as stack:
        stack.start_nginx(text.replace("PORT", stack.listen))
        cfg = parse_nginx(str(stack.p.nginx_conf))
        labels = _labels_by_token(cfg)
        rows = []
        for t in targets:
            _status, token = _ask(stack.nginx_port, t, "r.test")
            rows.append({"t": t, "nginx": labels[token] if token else NO_LOCATION})
        stack.stop()
    rules = rules_from_config(cfg)
    df = pl.DataFrame(rows).with_columns(
        location_expr(rules, nginx_uri(pl.col("t")), pl.lit("r.test")).alias("ours"))
    bad = df.filter(pl.col("ours") != pl.col("nginx"))
    assert bad.is_empty(), (blocks, bad.rows())
    assert df["nginx"].n_unique() >= 3
