"""Which ``server`` nginx chose for a request: per listen port, the exact name, else the
longest ``*.example.com`` / ``.example.com`` wildcard, else the longest ``www.example.*``
wildcard, else the first ``~regex`` name in config order, else the port's default server.

A port of ``ngx_http_find_virtual_server()`` (``ngx_http_request.c``) ->
``ngx_hash_find_combined()`` (``src/core/ngx_hash.c``), one request at a time
(:func:`find_server_py`) and as a polars expression (:func:`server_expr`).  Listen sockets are
told apart by port only; without a port column the port whose servers have the most locations
is assumed (:func:`preferred`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from why502.proxies.nginx.config.match import MatchRule, server_name_regex
from why502.proxies.nginx.config.pcre import Regex
from why502.proxies.nginx.config.uri import host_key


@dataclass
class PortGroup:
    key: str
    servers: list[MatchRule]  # config order
    default: MatchRule
    locations: int = 0  # how many locations its servers have


def port_groups(rules: list[MatchRule]) -> list[PortGroup]:
    """Servers per listen port, nginx's default first: ``ngx_http_add_server()`` keeps config
    order, the ``default_server`` one (else the first) answers unknown names."""
    servers = [r for r in rules if r.kind == "server"]
    per_server: dict[int, int] = {}
    for r in rules:
        if r.kind != "server":
            per_server[r.server] = per_server.get(r.server, 0) + 1
    keys: list[str] = []
    for s in servers:
        keys.extend(k for k in s.ports if k not in keys)
    groups = []
    for k in keys:
        members = [s for s in servers if k in s.ports]
        default = next((s for s in members if k in s.default_ports), members[0])
        groups.append(PortGroup(k, members, default, sum(per_server.get(s.id, 0) for s in members)))
    return groups


def preferred(groups: list[PortGroup]) -> PortGroup:
    """Without the port in the log: the port whose servers have the most locations (the 443
    of a site whose port 80 only redirects), then the most servers, then the first listed."""
    return max(groups, key=lambda g: (g.locations, len(g.servers)))


@dataclass
class ServerNames:
    exact: dict[str, int]
    heads: list[tuple[str, bool, int]]  # (".example.com", also bare "example.com", server id)
    tails: list[tuple[str, int]]  # ("www.example.", server id), longest first
    regexes: list[tuple[Regex, int]]  # config order


def server_names(group: list[MatchRule]) -> ServerNames:
    """Sort a port's server names the way ``ngx_http_server_names()`` adds them, in config
    order, to its hashes with ``ngx_hash_add_key()`` (``src/core/ngx_hash.c``); a name that
    conflicts is ignored ("conflicting server name"):

    - ``example.com`` conflicts with an earlier ``example.com`` or ``.example.com``;
    - ``.example.com`` conflicts with an earlier ``example.com``; otherwise it reserves
      ``example.com`` at once, *then* conflicts with an earlier ``*.example.com`` or
      ``.example.com`` (so after ``*.example.com`` it is dropped but still blocks a later
      exact ``example.com``: checked against nginx);
    - ``*.example.com`` conflicts with an earlier ``*.example.com`` or ``.example.com``;
    - ``www.example.*`` with an earlier ``www.example.*``.
    """
    names = ServerNames({}, [], [], [])
    reserved: set[str] = set()  # ha->keys_hash: exact names and the bare form of .example.com
    heads: dict[str, tuple[bool, int]] = {}  # ha->dns_wc_head_hash: "example.com" -> (bare, id)
    tails: dict[str, int] = {}  # ha->dns_wc_tail_hash: "www.example" -> id
    for s in group:
        for raw in s.server_names:
            if raw.startswith("~"):
                names.regexes.append((server_name_regex(raw), s.id))
                continue
            n = raw.lower()
            if len(n) > 1 and n.startswith("."):
                if n[1:] in reserved:
                    continue
                reserved.add(n[1:])
                heads.setdefault(n[1:], (True, s.id))
            elif len(n) > 2 and n.startswith("*."):
                heads.setdefault(n[2:], (False, s.id))
            elif len(n) > 2 and n.endswith(".*"):
                tails.setdefault(n[:-2], s.id)
            elif "*" not in n and n not in reserved:
                reserved.add(n)
                names.exact[n] = s.id
    names.heads = sorted(((f".{k}", bare, sid) for k, (bare, sid) in heads.items()), key=lambda h: -len(h[0]))
    names.tails = sorted(((f"{k}.", sid) for k, sid in tails.items()), key=lambda t: -len(t[0]))
    return names


def find_server_py(names: ServerNames, default: int, host: str) -> int:
    if host in names.exact:
        return names.exact[host]
    for suffix, bare, sid in names.heads:
        if (host.endswith(suffix) and len(host) > len(suffix)) or (bare and host == suffix[1:]):
            return sid
    for prefix, sid in names.tails:
        if host.startswith(prefix) and len(host) > len(prefix):
            return sid
    if host:
        for rx, sid in names.regexes:
            if rx.search(host):
                return sid
    return default


def _group_expr(g: PortGroup, host: pl.Expr) -> pl.Expr:
    names = server_names(g.servers)
    conds: list[tuple[pl.Expr, int]] = []
    for suffix, bare, sid in names.heads:
        c = host.str.ends_with(suffix) & (host.str.len_bytes() > len(suffix))
        conds.append((c | (host == suffix[1:]) if bare else c, sid))
    for prefix, sid in names.tails:
        conds.append((host.str.starts_with(prefix) & (host.str.len_bytes() > len(prefix)), sid))
    for rx, sid in names.regexes:
        conds.append((rx.contains(host) & (host != ""), sid))
    rest = chain(conds, pl.lit(g.default.id, dtype=pl.Int32), pl.Int32)
    if not names.exact:
        return rest
    exact = host.replace_strict(list(names.exact), list(names.exact.values()), default=None,
                                return_dtype=pl.Int32)
    return pl.coalesce(exact, rest)


def chain(conds: list[tuple[pl.Expr, int]] | list[tuple[pl.Expr, pl.Expr]], otherwise: pl.Expr,
           dtype: pl.DataType | type[pl.DataType]) -> pl.Expr:
    if not conds:
        return otherwise
    first, *more = conds

    def val(v: int | pl.Expr) -> pl.Expr:
        return v if isinstance(v, pl.Expr) else pl.lit(v, dtype=dtype)

    ch: Any = pl.when(first[0]).then(val(first[1]))
    for c, v in more:
        ch = ch.when(c).then(val(v))
    out: pl.Expr = ch.otherwise(otherwise)
    return out


def _server_rows_expr(rules: list[MatchRule], host_col: pl.Expr, port_col: pl.Expr | None) -> pl.Expr:
    host = host_key(host_col)
    groups = port_groups(rules)
    pref = preferred(groups)
    out = _group_expr(pref, host)
    if port_col is None or len(groups) == 1:
        return out
    port = port_col.cast(pl.String)
    conds = [(port == g.key, _group_expr(g, host)) for g in groups if g is not pref]
    return chain(conds, out, pl.Int32)


def server_expr(rules: list[MatchRule], host_col: pl.Expr, port_col: pl.Expr | None = None) -> pl.Expr:
    """The id of the ``server`` rule that took each request (Int32).

    ``host_col`` is ``$host`` (``$http_host`` works too: :func:`host_key` is applied).  With
    ``port_col`` (``$server_port``) each port has its own names and default server, as in
    nginx; without it every request is taken to have reached the port whose servers have the
    most locations (:func:`preferred`), which is exact whenever all servers share one port.

    A log has few distinct hosts, so the name tests run once per unique (host, port) of the
    batch and a hash join carries the answer back to every row."""
    servers = [r for r in rules if r.kind == "server"]
    if not servers:
        return pl.lit(None, dtype=pl.Int32)
    if len(servers) == 1:
        return pl.lit(servers[0].id, dtype=pl.Int32)
    keys = {"h": host_col.cast(pl.String)}
    if port_col is not None:
        keys["p"] = port_col.cast(pl.String)
    pure = _server_rows_expr(rules, pl.col("h"), pl.col("p") if port_col is not None else None)

    def batch(s: pl.Series) -> pl.Series:
        frame = s.struct.unnest()
        uniq = frame.unique().with_columns(pure.alias("_sid"))
        return frame.join(uniq, on=list(keys), how="left", nulls_equal=True,
                          maintain_order="left")["_sid"]

    packed = pl.struct(*[e.alias(k) for k, e in keys.items()])
    return packed.map_batches(batch, return_dtype=pl.Int32, is_elementwise=True)

