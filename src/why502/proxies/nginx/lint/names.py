"""Names and addresses of the targets: resolved once, needing a resolver, localhost, no port."""

from __future__ import annotations

import re

from why502.analyzers.lint.common import finding, is_ip, literal_hostname
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.proxies.nginx.config.model import NginxConfig
from why502.proxies.nginx.config.tree import Directive
from why502.proxies.nginx.lint.config import PASSES, all_groups, unreadable_include
from why502.proxies.nginx.lint.input import NginxLintInput


@rule("W502-002", directives=(*PASSES, "upstream"))
def check_hostname_resolved_once(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-002.  A literal name in ``*_pass`` or an upstream ``server`` is resolved by
    ``ngx_parse_url()``/``ngx_inet_resolve_host()`` at configuration time only; ``resolver``
    is used for variables and the ``resolve`` parameter (ngx_http_upstream.c)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for t in cfg.targets():
        if t.group or t.uses_variables or t.unix_path or not literal_hostname(t.host):
            continue
        if t.port is None and t.kind in ("fastcgi", "uwsgi", "scgi", "memcached"):
            continue  # no port and no upstream: W502-023 (nginx refuses it outright)
        if t.port is None and t.context == "stream":
            # stream's proxy_pass has no scheme and no default port: a bare NAME can only be an
            # upstream group (ngx_stream_proxy_pass(), u.no_resolve = 1), maybe in an include
            # that is not here -- never a host to resolve.
            continue
        out.append(finding(rule, f"{t.raw} names host {t.host}: resolved once when nginx starts; when "
                            "its address changes (container restart, failover) nginx keeps connecting "
                            "to the old one: 502 (connect() failed) or 504 until a reload",
                            t.file, t.line))
    for group in all_groups(cfg):
        for s in group.servers:
            if s.resolve or s.unix_path or s.service or not literal_hostname(s.host):
                continue
            out.append(finding(rule, f'upstream "{group.name}" server {s.address}: resolved once when '
                                "nginx starts (no `resolve` parameter); when its address changes nginx "
                                "keeps connecting to the old one: 502 until a reload", s.file, s.line))
    return out


_VAR_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_MAX_EXPANSIONS = 64
"""Bound on the URLs a ``*_pass`` with variables is expanded to (``set``/``map`` values of each
variable in its host, multiplied): beyond it the host is taken as unknown."""


def _var_values(cfg: NginxConfig, var: str) -> list[str] | None:
    """Every literal value ``set``/``map`` can give ``$var``, or None when unknown."""
    values: list[str] = []
    found = False

    def walk(ds: tuple[Directive, ...]) -> None:
        nonlocal found
        for d in ds:
            if d.name == "set" and len(d.args) >= 2 and d.args[0] in (f"${var}", f"${{{var}}}"):
                values.append(d.args[1])
                found = True
            elif d.name == "map" and len(d.args) >= 2 and d.args[1] in (f"${var}", f"${{{var}}}"):
                found = True
                # map entries are "key value;": crossplane gives directive=key, args=[value]
                values.extend(c.args[0] if c.args else "" for c in d.block or ()
                              if c.name not in ("hostnames", "volatile"))
            if d.block:
                walk(d.block)

    walk(cfg.main.directives)
    if not found:
        return None
    return values


def _host_part(raw: str) -> str:
    """The host of a ``*_pass`` URL as ``ngx_parse_inet_url()`` (src/core/ngx_inet.c) cuts it:
    it ends at the first ``/`` or ``?`` (the URI, or the arguments when no path comes first)."""
    rest = raw.split("://", 1)[1] if "://" in raw else raw
    host = re.split(r"[/?]", rest, maxsplit=1)[0]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# Variables whose value always begins with "/": $request_uri is the request line's URI
# (``r->unparsed_uri``: from the path's "/" on, also for an absolute-form request line,
# ``ngx_http_parse_request_line()`` in src/http/ngx_http_parse.c), $uri and $document_uri the
# normalized path (``ngx_http_parse_complex_uri()``).  NGINX Gateway Fabric writes every route
# as ``proxy_pass http://NS_SVC_PORT$request_uri;``: the host is the upstream block's name.
_PATH_VARS = frozenset({"request_uri", "uri", "document_uri"})


def _possible_hosts(cfg: NginxConfig, raw: str) -> list[str] | None:
    """Every host ``raw`` can name once its variables take the literal values ``set``/``map``
    give them, or None when one of them is unknown.

    nginx evaluates the whole value first and parses the URL afterwards (proxy_pass: "Parameter
    value can contain variables. In this case, if an address is specified as a domain name, the
    name is searched among the described server groups, and, if not found, is determined using
    a resolver", https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_pass), so
    ``http://octane$suffix`` with ``$suffix`` only ever ``""`` or ``?$query_string`` names the
    group ``octane``: the host stops at ``?`` (:func:`_host_part`), a variable after it does not
    matter.  Only the variables inside the host are expanded, each value in turn.
    """
    done: list[str] = []
    todo = [raw]
    steps = 0
    while todo:
        steps += 1
        if steps > _MAX_EXPANSIONS:  # a value naming its own variable, or too many values
            return None
        url = todo.pop()
        offset = url.index("://") + 3 if "://" in url else 0
        if url.startswith("unix:", offset):
            done.append("unix:")
            continue
        host = _host_part(url)
        m = _VAR_REF.search(host)
        if m is None:
            done.append(host)
            continue
        name = m.group(1) or m.group(2)
        vals = _var_values(cfg, name)
        if vals is None and name in _PATH_VARS:
            vals = ["/"]  # the host ends where the URI begins
        if vals is None:
            return None
        start = offset + m.start()  # the host begins right after the scheme
        todo.extend(url[:start] + v + url[start + len(m.group(0)):] for v in vals)
    return done


@rule("W502-003", directives=PASSES)
def check_variable_pass_resolver(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-003.  With variables, ``ngx_http_upstream_init_request()`` looks the host up among
    the upstream blocks, else needs ``clcf->resolver``: "no resolver defined to resolve %V" (502)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in cfg.located_targets():
        if not t.uses_variables or t.unix_path:
            continue
        host = _host_part(t.raw)
        if host.startswith("unix:"):
            continue
        if "$" in host:
            hosts = _possible_hosts(cfg, t.raw)
            if hosts is not None and all(is_ip(h) or h in cfg.upstreams or h.startswith("unix:")
                                         for h in hosts):
                continue
            detail = f"the host comes from {host}"
        else:
            if is_ip(host) or host in cfg.upstreams:
                continue
            detail = f"host {host} must be resolved per request"
        if not loc.effective("resolver").is_default or unreadable_include(cfg, loc):
            continue  # a resolver applies, or an unreadable include may define one
        out.append(finding(rule, f"{t.raw} uses variables ({detail}) and no resolver applies here: "
                            '"no resolver defined to resolve" -> 502', t.file, t.line))
    return out


@rule("W502-022", directives=(*PASSES, "upstream"))
def check_localhost(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-022.  ``ngx_inet_resolve_host()`` keeps every address of the name as a peer."""
    cfg = inp.config
    out: list[LintFinding] = []
    for t in cfg.targets():
        if t.host == "localhost" and not t.group and not t.uses_variables:
            out.append(finding(rule, f"{t.raw}: localhost is ::1 and 127.0.0.1, two peers; a backend "
                                "listening on one refuses the other (111: Connection refused): a retry on "
                                "each request, a 502 when it is the last try", t.file, t.line))
    for g in all_groups(cfg):
        for s in g.servers:
            if s.host == "localhost":
                out.append(finding(rule, f'upstream "{g.name}" server {s.address}: localhost is ::1 and '
                                    "127.0.0.1, two peers: a backend listening on one refuses the "
                                    "other (111: Connection refused), a 502 when it is the last try",
                                    s.file, s.line))
    return out


def _http_context_partial(cfg: NginxConfig) -> bool:
    """Part of the ``http`` context may be elsewhere: the file is a fragment (read as if
    wrapped in ``http {}``, proxies.nginx.config.assemble.build_model) or an include was not read."""
    return any(p.message.startswith(("no http block", "include ")) for p in cfg.problems)


@rule("W502-023", directives=("fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass"))
def check_pass_without_port(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-023.  ``ngx_http_upstream_add()`` with no port and no upstream of that name:
    "no port in upstream" (fastcgi/uwsgi/scgi/memcached have no default port).

    Only said when the whole ``http`` context was read.  An ``upstream`` block may stand in any
    file of that context, before or after the ``fastcgi_pass`` naming it ("the address can be
    specified ... as a server group", ngx_http_fastcgi_module.html#fastcgi_pass; an upstream is
    defined in the http context, ngx_http_upstream_module.html#upstream, and a later ``upstream``
    block takes over the name a ``*_pass`` met first, ngx_http_upstream_add()).  A vhost file
    without ``http`` is included into one that may hold it (laradock's sites name
    ``php-upstream``, written by its Dockerfile into conf.d/upstream.conf), and an include that
    was not read may hold it too.
    """
    if _http_context_partial(inp.config):
        return []
    out: list[LintFinding] = []
    for t in inp.config.targets():
        if t.context != "http" or t.kind not in ("fastcgi", "uwsgi", "scgi", "memcached"):
            continue
        if t.uses_variables or t.unix_path or t.group or t.port is not None or not t.host:
            continue
        if t.scheme is not None:
            continue
        out.append(finding(rule, f'{t.kind}_pass {t.raw}: no upstream "{t.host}" is defined and there is '
                            'no port: "no port in upstream"', t.file, t.line))
    return out
