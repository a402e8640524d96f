"""Which ``server`` and ``location`` nginx chose for a logged request, exactly as nginx does.

The by-location breakdown of ``why502 stats`` names the location that served each 5xx.  These
modules reproduce nginx's choice as one vectorised polars expression, checked against a real
nginx in ``tests/nginx_config/test_location_match.py`` (every request there is answered by the location's own
label, and the expression must give the same label).

Three steps, each a port of the nginx source (nginx/nginx, ``src/http``); the first is
:mod:`why502.proxies.nginx.config.uri`, the second :mod:`why502.proxies.nginx.config.servers`, the third
this module (the rules it searches are :mod:`why502.proxies.nginx.config.match`):

1. **The URI** (:func:`nginx_uri`): the request target without the query string, normalised the
   way ``ngx_http_parse_complex_uri()`` (``ngx_http_parse.c``) does before any location is
   searched: ``%XX`` decoded (every byte, not only unreserved ones; a decoded ``/`` or ``.``
   takes part in the steps below, a decoded ``?`` or ``#`` does not end the path), ``//`` merged
   when ``merge_slashes`` is on, ``/./`` dropped, ``/../`` resolved, a raw ``#`` ends the path.
   A target that nginx rejects with 400 (a bad ``%`` escape, ``%00``, ``..`` above the root) gets
   a null URI, hence no location.
2. **The server** (:func:`server_expr`): per listen port, ``ngx_http_find_virtual_server()``
   (``ngx_http_request.c``) -> ``ngx_hash_find_combined()`` (``src/core/ngx_hash.c``): the exact
   name, else the longest ``*.example.com`` / ``.example.com`` wildcard
   (``ngx_hash_find_wc_head()``), else the longest ``www.example.*`` wildcard
   (``ngx_hash_find_wc_tail()``), else the first ``~regex`` name in config order (caseless when
   the regex holds an upper-case letter, ``ngx_http_core_server_name()``), else the port's
   default server (``listen ... default_server``, else the first server listening there).
3. **The location** (:func:`location_expr`): ``ngx_http_core_find_location()`` and
   ``ngx_http_core_find_static_location()`` (``ngx_http_core_module.c``), recursively:

   - among the static (``=``, prefix, ``^~``) locations of a level: a ``=`` location equal to
     the URI wins at once; else a location whose name is the URI plus ``/`` and that passes to
     a backend (``proxy_pass`` & co. set ``auto_redirect``) wins at once (nginx answers 301);
     else the longest matching prefix is remembered and its *nested* locations are searched the
     same way (a final result there ends the search);
   - then, unless that prefix is ``^~``, this level's regex locations in config order (so the
     nested regexes of the matched prefix come before the outer ones); a match wins, after
     its own nested locations are searched;
   - else the deepest prefix remembered.

   Two consequences worth knowing, both checked against nginx: a ``^~`` prefix nested in a
   plain prefix stops only the regexes of its own level, not the server's; and the regexes
   nested in a ``^~`` location are still tried.

Use::

    rules = rules_from_config(cfg)                      # once per config
    uri = nginx_uri(target_from_request(pl.col("request")),
                    merge_slashes=merge_slashes_from_config(cfg))
    df.with_columns(location_expr(rules, uri, pl.col("host")).alias("location"))
    notes = match_notes(rules)                          # what is approximate for this config

(``port_col=pl.col("server_port")`` when the log has ``$server_port``).

Speed: each prefix level and each regex is one column computed once per batch, the
``when/then`` chains only combine integer rule ids, server names are resolved once per unique
host, and with many string tests each server's tests run only on its own unique (server, URI)
pairs (:func:`location_id_expr`).  ``bench/location_bench.py``: 1M rows in about 0.2 s with the
bench config, 0.35 s with 50 virtual hosts x 10 locations.

What is approximate (said again in :func:`match_notes` when a config needs it):

- Listen sockets are told apart by port only (``listen 127.0.0.1:80`` and ``listen 80`` are one
  group); without a port column the port whose servers have the most locations is assumed
  (see :func:`server_expr`).  A server with no ``listen`` is on port 80 (nginx: 8000 when not root).
- Regexes run on polars' Rust engine after a translation to PCRE's meaning (``\\d \\w \\s`` are
  ASCII, ``$`` and ``\\Z`` also match before a final newline).  A regex Rust cannot run
  (look-around, back-references, possessive quantifiers, atomic groups) is run with Python's
  ``re`` (``re.ASCII``) over the *unique* URIs of each batch only
  (:func:`why502.proxies.nginx.config.pcre.python_contains`).  A regex neither can compile never
  matches and is named in :func:`match_notes`.
- nginx matches bytes (PCRE without UTF).  Matching here runs on :func:`byte_text` (one
  character per byte), so ``.``, ``[^/]`` and ``\\W`` count bytes as nginx does (checked with
  percent-encoded UTF-8 and stray bytes against nginx).  Left over: a negated class under
  ``~*`` that lists non-ASCII characters is case-folded by Rust's Unicode rules; a URI that
  really contains U+F780..U+F7FF reads as the stray bytes :func:`normalize_uri_py` encodes
  there; a log whose escapes (``\\xC3``) were not undone matches as that text.  Host names are
  matched as text (nginx: bytes), which differs only for non-ASCII names.
- ``merge_slashes`` is one flag for all servers (nginx takes it from the port's default
  server, since the URI is parsed before the ``Host`` header picks a server).
- ``$hostname`` as a server name, ``server_name_in_redirect`` and case-insensitive file systems
  are not modelled.  ``host_col`` must be ``$host`` (or ``$http_host``): for an absolute
  request target nginx takes the host from the request line, which only ``$host`` shows.
- Labels are ``"<first server_name or _> <location>"`` as before, so two servers with the same
  first name (one per port, say) share labels (:func:`match_notes` says so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from why502.proxies.nginx.config.match import (
    NO_LOCATION,
    MatchRule,
    regex_of,
    rules_from_config,
    server_name_regex,
)
from why502.proxies.nginx.config.model import NginxConfig
from why502.proxies.nginx.config.pcre import Regex
from why502.proxies.nginx.config.servers import (
    chain,
    find_server_py,
    port_groups,
    preferred,
    server_expr,
    server_names,
)
from why502.proxies.nginx.config.uri import byte_text, byte_text_series, nginx_uri, target_from_request


def merge_slashes_from_config(cfg: NginxConfig, rules: list[MatchRule] | None = None) -> bool:
    """The ``merge_slashes`` that applies to the URI: the default server's of the port
    :func:`server_expr` assumes.  nginx parses the request line before the ``Host`` header
    chooses a server, so it uses the port's default server (``ngx_http_process_request_uri()``
    in ``ngx_http_request.c`` reads ``cscf->merge_slashes`` of the server found so far)."""
    rules = rules_from_config(cfg) if rules is None else rules
    if not rules:
        return True
    default = preferred(port_groups(rules)).default
    for server in cfg.servers:
        if server.context == "http" and (server.file, server.line) == (default.file, default.line):
            return (server.effective("merge_slashes").value or "on") != "off"
    return True



def _children(rules: list[MatchRule]) -> dict[int, list[MatchRule]]:
    kids: dict[int, list[MatchRule]] = {}
    for r in rules:
        if r.kind == "server":
            continue
        key = r.parent if r.parent is not None else r.server
        kids.setdefault(key, []).append(r)
    return kids


Entry = tuple[pl.Expr, int]  # (condition, rule id)


class _Columns:
    """The string tests of one server's locations, each computed once as a column of the
    batch (``_lp<node>``: the longest prefix of a level, ``_rx<id>``: a regex), so the
    decision lists below only combine integers and booleans."""

    def __init__(self, uri: pl.Expr) -> None:
        self.uri = uri
        self.defs: dict[str, pl.Expr] = {}

    def longest(self, node: int, ordered: list[MatchRule]) -> pl.Expr:
        name = f"_lp{node}"
        self.defs[name] = chain([(self.uri.str.starts_with(byte_text(r.pattern)), r.id) for r in ordered],
                                 pl.lit(None, dtype=pl.Int32), pl.Int32)
        return pl.col(name)

    def regex(self, rule: MatchRule) -> pl.Expr:
        name = f"_rx{rule.id}"
        self.defs[name] = regex_of(rule).contains(self.uri)
        return pl.col(name)


def _level(kids: dict[int, list[MatchRule]], node: int, cols: _Columns) -> tuple[list[Entry], list[Entry]]:
    """Decision lists for one level of ``ngx_http_core_find_location()``: (final, fallback).

    ``final`` entries end the search (``NGX_OK``/``NGX_DONE``: an exact match, an auto
    redirect, a regex, or a final result of a nested level); ``fallback`` entries are the
    prefix remembered (``NGX_AGAIN``), deepest first, used when nothing final matched.  Each
    list is in nginx's order; the first true condition wins."""
    uri = cols.uri
    locs = kids.get(node, [])
    static = [r for r in locs if r.is_static]
    regexes = [r for r in locs if r.is_regex]
    final: list[Entry] = []
    fallback: list[Entry] = []
    # 1. "=" equal to the URI (node->exact is tested before node->inclusive)
    seen_exact: set[str] = set()
    for r in static:
        if r.kind == "exact" and r.pattern not in seen_exact:
            seen_exact.add(r.pattern)
            final.append((uri == byte_text(r.pattern), r.id))
    # 2. auto redirect: the URI is the name without its last "/" and no location has that name
    names = {r.pattern for r in static}
    for r in static:
        if r.auto_redirect and r.pattern[:-1] not in names:
            final.append((uri == byte_text(r.pattern[:-1]), r.id))
    # 3. the longest prefix (the first location wins a duplicated name: nginx refuses those)
    prefixes: dict[str, MatchRule] = {}
    for r in static:
        if r.kind != "exact":
            prefixes.setdefault(r.pattern, r)
    ordered = sorted(prefixes.values(), key=lambda r: -len(r.pattern))
    longest = cols.longest(node, ordered) if ordered else pl.lit(None, dtype=pl.Int32)
    nested = {r.id: _level(kids, r.id, cols) for r in ordered}
    for r in ordered:
        hit = longest == r.id
        final.extend((hit & c, v) for c, v in nested[r.id][0])
    # 4. this level's regexes, unless the prefix found here is "^~"
    stop_ids = [r.id for r in ordered if r.kind == "prefix_stop"]
    allowed = longest.is_null() | ~longest.is_in(stop_ids) if stop_ids else pl.lit(True)
    for r in regexes:
        hit = allowed & cols.regex(r)
        sub_final, sub_fallback = _level(kids, r.id, cols)
        final.extend((hit & c, v) for c, v in sub_final + sub_fallback)
        final.append((hit, r.id))
    # 5. the prefix remembered (deeper ones first)
    for r in ordered:
        hit = longest == r.id
        fallback.extend((hit & c, v) for c, v in nested[r.id][1])
        fallback.append((hit, r.id))
    return final, fallback


_Plan = tuple[dict[str, pl.Expr], pl.Expr]


def _server_plan(kids: dict[int, list[MatchRule]], server_id: int) -> _Plan | None:
    """The columns to compute on one server's rows and the chain that picks the id."""
    cols = _Columns(pl.col("uri"))
    final, fallback = _level(kids, server_id, cols)
    if not (final or fallback):
        return None
    return cols.defs, chain(final + fallback, pl.lit(None, dtype=pl.Int32), pl.Int32)


def _server_plans(kids: dict[int, list[MatchRule]], rules: list[MatchRule]) -> dict[int, _Plan]:
    """Per server id: the columns to compute on its rows and the chain that picks the id."""
    plans: dict[int, _Plan] = {}
    for s in (r for r in rules if r.kind == "server"):
        plan = _server_plan(kids, s.id)
        if plan is not None:
            plans[s.id] = plan
    return plans


class _IndexedServer:
    """One server's location search run in Python over hash tables, for a server with more
    locations than :data:`INDEXED_LOCATIONS`: the same steps as :func:`_level` (and as
    :func:`match_location_py`, the reference both are tested against), but the longest prefix
    is found by looking up the URI's own prefixes of each length a location has, and an exact
    or redirect match is one lookup -- so a URI costs about the number of distinct prefix
    lengths, not the number of locations.  A polars ``when/then`` chain grows by one link per
    location and is copied at each link: a server of 200,000 locations did not finish."""

    def __init__(self, kids: dict[int, list[MatchRule]], server_id: int) -> None:
        self.kids = kids
        self.levels: dict[int, tuple[dict[str, int], dict[str, int], dict[str, MatchRule],
                                     list[int], list[MatchRule]]] = {}
        self.server_id = server_id

    def _level(self, node: int) -> tuple[dict[str, int], dict[str, int], dict[str, MatchRule],
                                          list[int], list[MatchRule]]:
        """(exact name -> id, redirect name -> id, prefix -> rule, prefix lengths longest
        first, regexes in config order) of one level, made the first time it is searched."""
        level = self.levels.get(node)
        if level is None:
            locs = self.kids.get(node, [])
            static = [r for r in locs if r.is_static]
            names = {r.pattern for r in static}
            exact: dict[str, int] = {}
            redirect: dict[str, int] = {}
            prefixes: dict[str, MatchRule] = {}
            for r in static:
                if r.kind == "exact":
                    exact.setdefault(byte_text(r.pattern), r.id)
                else:
                    prefixes.setdefault(byte_text(r.pattern), r)
                if r.auto_redirect and r.pattern[:-1] not in names:
                    redirect.setdefault(byte_text(r.pattern[:-1]), r.id)
            lengths = sorted({len(k) for k in prefixes}, reverse=True)
            level = (exact, redirect, prefixes, lengths, [r for r in locs if r.is_regex])
            self.levels[node] = level
        return level

    def _longest(self, node: int, uri: str) -> MatchRule | None:
        """The longest prefix location of the level (by the name's length as written, the
        first in config order on a tie, as :func:`_level` orders them)."""
        _, _, prefixes, lengths, _ = self._level(node)
        best: MatchRule | None = None
        for n in lengths:
            if n > len(uri):
                continue
            r = prefixes.get(uri[:n])
            if r is not None and (best is None or len(r.pattern) > len(best.pattern)
                                  or (len(r.pattern) == len(best.pattern) and r.id < best.id)):
                best = r
        return best

    def _search(self, node: int, uri: str, first_regex: int | None = -1) -> tuple[int | None, int | None]:
        """(final id, remembered prefix id) of one level, as :func:`_level`'s two lists.
        ``first_regex``: the id of the level's first regex that matches ``uri`` when it is
        already known (None: none does), -1 when it is to be found here."""
        exact, redirect, _, _, regexes = self._level(node)
        hit = exact.get(uri)
        if hit is None:
            hit = redirect.get(uri)
        if hit is not None:
            return hit, None
        longest = self._longest(node, uri)
        remembered: int | None = None
        if longest is not None:
            final, remembered = self._search(longest.id, uri)
            if final is not None:
                return final, None
            remembered = remembered if remembered is not None else longest.id
            if longest.kind == "prefix_stop":
                return None, remembered
        if first_regex == -1:
            first_regex = next((r.id for r in regexes if regex_of(r).search(uri)), None)
        if first_regex is not None:
            final, nested = self._search(first_regex, uri)
            return (final if final is not None else nested if nested is not None else first_regex), None
        return None, remembered

    def find(self, uris: pl.Series) -> pl.Series:
        """The id of the location that serves each URI (byte text; null when none does).
        The server's own regexes run as polars columns over all the URIs at once (in Rust, as
        in the expression path): each URI's first matching one in config order is a
        ``coalesce``, so Python only walks the hash tables and the rare nested regexes."""
        regexes = self._level(self.server_id)[4]
        firsts: list[int | None]
        if regexes:
            first = pl.coalesce([pl.when(regex_of(r).contains(pl.col("uri")))
                                 .then(pl.lit(r.id, dtype=pl.Int32)) for r in regexes])
            firsts = pl.DataFrame({"uri": uris}).select(first.alias("first"))["first"].to_list()
        else:
            firsts = [None] * len(uris)
        out: list[int | None] = []
        for uri, rx in zip(uris.to_list(), firsts):
            final, remembered = self._search(self.server_id, uri, rx)
            out.append(final if final is not None else remembered)
        return pl.Series("_loc", out, dtype=pl.Int32)


#: A server with more locations than this is searched by :class:`_IndexedServer` (Python, once
#: per unique URI of its requests) instead of a polars expression, whose cost grows faster than
#: the locations (``bench/location_scale.py``, 100k unique URIs, a regex per 8 prefixes:
#: 64 locations 0.11 s vs 0.21 s, 256: 0.57 vs 0.27, 1024: 4.2 vs 0.61, 2048: 13.3 vs 1.1).
INDEXED_LOCATIONS = 256


#: Above this many servers the per-server plans are made on demand, for the servers a batch's
#: requests reached: making a polars expression costs tens of microseconds in Python, and a
#: config of 5,000 servers spent seconds laying out plans for servers no request named.
EAGER_SERVERS = 64


#: Up to this many string tests (prefix levels + regexes, all servers) run on every row of a
#: batch; above it they run once per unique (server, URI) pair of their own server
#: (bench/location_bench.py: 1M rows, 3 tests: 0.03 s direct vs 0.15 s with the unique pairs
#: and the join back; 29 tests: 0.41 s vs 0.37 s).
DIRECT_TESTS = 12


def location_id_expr(
    rules: list[MatchRule],
    path_col: pl.Expr,
    host_col: pl.Expr,
    *,
    port_col: pl.Expr | None = None,
) -> pl.Expr:
    """The ``id`` of the location rule that served each request (Int32), null when nginx found
    none; :func:`location_expr` turns it into the label.

    Per batch: the server of each row (:func:`server_expr`, once per unique host), then each
    string test once as a column (:class:`_Columns`) and a ``when/then`` chain of integer ids
    that picks the location (:func:`_level`).  With more than :data:`DIRECT_TESTS` tests,
    they run on the *unique* (server, URI) pairs only, each server's tests on its own pairs,
    and a hash join brings the id back to every row.  All of it
    polars; Python only runs once per batch to lay out the plan (and per unique URI for a
    PCRE-only regex)."""
    servers = [r for r in rules if r.kind == "server"]
    if not servers:
        return pl.lit(None, dtype=pl.Int32)
    sizes: dict[int, int] = {}
    for r in rules:
        if r.kind != "server":
            sizes[r.server] = sizes.get(r.server, 0) + 1
    indexed = {s.id for s in servers if sizes.get(s.id, 0) > INDEXED_LOCATIONS}
    kids = _children(rules)
    eager = len(servers) <= EAGER_SERVERS and not indexed
    plans = _server_plans(kids, rules) if eager else {}
    made: dict[int, _Plan | _IndexedServer | None] = dict(plans)

    def plan_of(server_id: int) -> _Plan | _IndexedServer | None:
        if server_id not in made:
            made[server_id] = (_IndexedServer(kids, server_id) if server_id in indexed
                               else _server_plan(kids, server_id))
        return made[server_id]

    sid = server_expr(rules, pl.col("h"), pl.col("p") if port_col is not None else None)
    fields = {"uri": path_col.cast(pl.String), "h": host_col.cast(pl.String)}
    if port_col is not None:
        fields["p"] = port_col.cast(pl.String)

    all_defs = {k: v for defs, _ in plans.values() for k, v in defs.items()}
    none = pl.lit(None, dtype=pl.Int32)
    # one when/then per server: built only for the direct path (few tests, so few servers);
    # polars copies a when/then chain at each link, so 5,000 servers took seconds to build
    pick_any = pl.when(pl.col("uri").is_null()).then(none).otherwise(
        chain([(pl.col("sid") == k, pick) for k, (_, pick) in plans.items()], none, pl.Int32)
    ) if plans and len(all_defs) <= DIRECT_TESTS else none

    def batch(s: pl.Series) -> pl.Series:
        frame = s.struct.unnest().select(sid.alias("sid"), "uri")
        frame = frame.with_columns(byte_text_series(frame["uri"]).alias("uri"))
        if plans and len(all_defs) <= DIRECT_TESTS:
            # few string tests: running them on every row beats finding the unique pairs
            return frame.with_columns(**all_defs).select(pick_any.alias("_loc"))["_loc"]
        pairs = frame.filter(pl.col("uri").is_not_null()).unique()
        parts = []
        for key, part in pairs.partition_by("sid", as_dict=True).items():
            plan = plan_of(int(key[0])) if key[0] is not None else None
            if plan is None:
                continue
            if isinstance(plan, _IndexedServer):
                parts.append(part.select("sid", "uri").with_columns(plan.find(part["uri"])))
                continue
            defs, pick = plan
            parts.append(part.with_columns(**defs).select("sid", "uri", pick.alias("_loc")))
        if not parts:
            return pl.Series([None] * frame.height, dtype=pl.Int32)
        ids = pl.concat(parts)
        return frame.join(ids, on=["sid", "uri"], how="left", maintain_order="left")["_loc"]

    packed = pl.struct(*[e.alias(k) for k, e in fields.items()])
    return packed.map_batches(batch, return_dtype=pl.Int32, is_elementwise=True)


def location_expr(
    rules: list[MatchRule],
    path_col: pl.Expr,
    host_col: pl.Expr,
    *,
    port_col: pl.Expr | None = None,
) -> pl.Expr:
    """The label of the location that served each request (``"www.example.com ~ \\.php$"``),
    :data:`NO_LOCATION` when nginx found none (or rejected the URI).

    ``path_col`` is the URI as nginx matches it (:func:`nginx_uri` of the request target);
    ``host_col`` is ``$host``; ``port_col`` (optional) ``$server_port``.  One polars expression
    of string tests, no Python per row (Python runs once per *unique* host, and once per
    unique URI for PCRE-only regexes, :func:`why502.proxies.nginx.config.pcre.python_contains`)."""
    locs = [r for r in rules if r.kind != "server"]
    if not locs:
        return pl.lit(NO_LOCATION)
    ids = location_id_expr(rules, path_col, host_col, port_col=port_col)
    return ids.replace_strict([r.id for r in locs], [r.label for r in locs], default=NO_LOCATION,
                              return_dtype=pl.String)


# ---------------------------------------------------------------------------------------------
# the same, one request at a time (the reference the expression is tested against)


def match_location_py(rules: list[MatchRule], uri: str | None, host: str, port: str | None = None) -> str:
    """:func:`location_expr` for one request, written as a direct port of
    ``ngx_http_core_find_location()`` (return codes and all).  Slow; for tests and for
    explaining one request."""
    rule = match_rule_py(rules, uri, host, port)
    return rule.label if rule is not None else NO_LOCATION


def match_rule_py(rules: list[MatchRule], uri: str | None, host: str,
                  port: str | None = None) -> MatchRule | None:
    """The location rule :func:`match_location_py` names (None: no location matched), so that
    two servers sharing a first name (and so labels) are still told apart
    (``proxies.nginx.config.serving``)."""
    servers = [r for r in rules if r.kind == "server"]
    if not servers or uri is None:
        return None
    text = byte_text(uri)
    h = host.lower()
    h = re.sub(r":[0-9]*$", "", h).removesuffix(".")
    groups = port_groups(rules)
    g = next((g for g in groups if g.key == port), None) if port is not None else None
    g = g or preferred(groups)
    sid = find_server_py(server_names(g.servers), g.default.id, h)
    kids = _children(rules)
    by_id = {r.id: r for r in rules}
    ok, again, done, declined = "OK", "AGAIN", "DONE", "DECLINED"
    state: dict[str, int | None] = {"loc": None}

    def static(node: int) -> tuple[str, MatchRule | None]:
        locs = [r for r in kids.get(node, []) if r.is_static]
        for r in locs:
            if r.kind == "exact" and byte_text(r.pattern) == text:
                return ok, r
        names = {byte_text(r.pattern) for r in locs}
        for r in locs:
            if r.auto_redirect and byte_text(r.pattern[:-1]) == text and text not in names:
                return done, r
        best: MatchRule | None = None
        for r in locs:
            longer = best is None or len(r.pattern) > len(best.pattern)
            if r.kind != "exact" and text.startswith(byte_text(r.pattern)) and longer:
                best = r
        return (again, best) if best else (declined, None)

    def find(node: int) -> str:
        rc, hit = static(node)
        noregex = False
        if hit is not None:
            state["loc"] = hit.id
        if rc == again:
            assert hit is not None
            noregex = hit.kind == "prefix_stop"
            rc = find(hit.id)
        if rc in (ok, done):
            return rc
        if not noregex:
            for r in kids.get(node, []):
                if r.is_regex and regex_of(r).search(text):
                    state["loc"] = r.id
                    find(r.id)
                    return ok
        return rc

    find(sid)
    loc = state["loc"]
    return by_id[loc] if loc is not None else None


def match_notes(rules: Iterable[MatchRule]) -> list[str]:
    """What the expression cannot do exactly for this config, one line each."""
    notes: list[str] = []
    rs = list(rules)
    for r in rs:
        rx: Regex | None = None
        what = ""
        if r.is_regex:
            rx, what = regex_of(r), f"location {r.label!r}"
        elif r.kind == "server":
            for n in r.server_names:
                if n.startswith("~"):
                    rx2 = server_name_regex(n)
                    if not rx2.supported:
                        notes.append(f"server_name {n!r} ({r.file}:{r.line}): neither Rust's nor "
                                     "Python's regex engine compiles it; it never matches here")
            continue
        if rx is None:
            continue
        if not rx.supported:
            notes.append(f"{what} ({r.file}:{r.line}): neither Rust's nor Python's regex engine "
                         "compiles it; it never matches here")
        elif rx.rust is None:
            notes.append(f"{what} ({r.file}:{r.line}): PCRE-only syntax, matched with Python's re "
                         "over the unique URIs")
    servers = [r for r in rs if r.kind == "server"]
    by_label: dict[str, list[MatchRule]] = {}
    for r in servers:
        by_label.setdefault(r.label, []).append(r)
    for label, same in by_label.items():
        if len(same) > 1:
            where = ", ".join(f"{r.file}:{r.line}" for r in same)
            notes.append(f"{len(same)} servers are labelled {label!r} ({where}): their locations "
                         "share labels in the breakdown")
    groups = port_groups(rs) if servers else []
    if len(groups) > 1:
        notes.append("servers listen on several ports: without $server_port in the log, requests "
                     f"are matched against the servers of port {preferred(groups).key}")
    return notes


# ---------------------------------------------------------------------------------------------
# what ``why502 stats`` holds on to


@dataclass(frozen=True)
class LocationModel:
    """A config's servers and locations plus its ``merge_slashes``: everything needed to name
    the location of a logged request (``why502 stats`` by-location breakdown and per-location
    timings)."""

    rules: list[MatchRule]
    merge_slashes: bool = True
    # label_expr() once per (target, columns): each stats accumulator asks for it, and with
    # 200,000 locations one expression holds ~30 MB of id -> label tables
    _made: dict[tuple[str, str, str], pl.Expr] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, cfg: NginxConfig) -> LocationModel:
        rules = rules_from_config(cfg)
        return cls(rules, merge_slashes_from_config(cfg, rules))

    def __bool__(self) -> bool:
        return any(r.kind != "server" for r in self.rules)

    def label_expr(self, request: pl.Expr, host: pl.Expr, *, target: str = "request") -> pl.Expr:
        """The location label of each row.  ``target`` says what ``request`` holds: the request
        line (``$request``), the raw target (``$request_uri``) or the already normalised URI
        (``$uri``, matched as is)."""
        key = (target, str(request), str(host))
        made = self._made.get(key)
        if made is None:
            if target == "uri":
                uri = request
            else:
                raw = target_from_request(request) if target == "request" else request
                uri = nginx_uri(raw, merge_slashes=self.merge_slashes)
            made = self._made[key] = location_expr(self.rules, uri, host)
        return made

    def notes(self) -> list[str]:
        return match_notes(self.rules)
