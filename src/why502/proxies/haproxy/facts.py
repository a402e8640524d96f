"""A ``haproxy.cfg``'s facts in the one cause model: a target per ``server`` line, a group per
``backend``/``listen`` section, the effective settings at each server, the config's lines.

HAProxy logs name a peer as ``backend/server`` (httplog: ``%b/%s``; the alert ``Server app/web1
is DOWN``) and ``backend/<NOSRV>`` when no server was assigned (all down, or still queued:
configuration.txt 8.2.3); ``aliases`` maps those names onto the identity keys the analyzers
use (``host:port``, ``unix:/path``, the group name), so a symptom is a symptom whichever proxy
logged it.

The settings are named as HAProxy names them (``timeout server``, ``timeout queue``, ``retries``,
``maxconn``, ``inter``/``fall``/``rise``), each a ``Setting`` with file:line, or HAProxy's default
(``proxies.haproxy.config.DEFAULTS``) with ``is_default``.
"""

from __future__ import annotations

import re

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.net import hostport
from why502.facts.setting import Setting
from why502.proxies.haproxy.config import HaproxyConfig, Section, Server, held_idle_connections

SECTION_SETTINGS = ("timeout connect", "timeout server", "timeout queue", "timeout client",
                    "timeout http-request", "retries")
SERVER_SETTINGS = ("maxconn", "inter", "fall", "rise")


def server_key(s: Server) -> str:
    return f"unix:{s.unix_path}" if s.unix_path else hostport(s.host, s.port)


def _section_settings(sec: Section) -> dict[str, Setting]:
    """The settings a section gives all its servers, computed once per section: each lookup
    walks the section's lines, so doing it per server was quadratic in a backend of many
    servers (100,000 servers: minutes)."""
    out = {name: sec.effective(name) for name in SECTION_SETTINGS}
    redispatch = sec.option("redispatch")
    out["option redispatch"] = Setting("on" if redispatch else "off", None, None, not redispatch)
    out["section"] = Setting(f"{sec.kind} {sec.name}", sec.file, sec.line, False)
    return out


def _settings(common: dict[str, Setting], srv: Server, held: Setting | None = None) -> dict[str, Setting]:
    """A server's settings: its section's, its own parameters (in the order reports show), and
    for a FastCGI server (``proto fcgi``) whose idle connections can hold the application's
    workers, ``held-idle-connections`` (``config.held_idle_connections``)."""
    out = {name: common[name] for name in SECTION_SETTINGS}
    for name in SERVER_SETTINGS:
        out[name] = srv.setting(name)
    out["option redispatch"] = common["option redispatch"]
    out["check"] = Setting("on" if srv.check else "off", srv.file, srv.line, False)
    out["section"] = common["section"]
    if held is not None and srv.param("proto") == "fcgi":
        out["held-idle-connections"] = held
    return out


def haproxy_facts(cfg: HaproxyConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                              dict[str, tuple[str, ...]], dict[str, str]]:
    """Targets (one per server), groups (one per backend), the files' lines and the peer aliases."""
    targets: list[TargetFact] = []
    groups: dict[str, GroupFact] = {}
    aliases: dict[str, str] = {}
    frontend_of = _frontends_by_backend(cfg)
    for sec in cfg.backends:
        keys = []
        common = _section_settings(sec)
        frontend = sec.name if sec.kind == "listen" else frontend_of.get(sec.name)
        held = held_idle_connections(cfg, sec)
        for srv in sec.servers:
            key = server_key(srv)
            keys.append(key)
            aliases[f"{sec.name}/{srv.name}"] = key
            # ``proto fcgi`` makes the server speak FastCGI (configuration.txt 5.2 "proto", the
            # fcgi mux of src/mux_fcgi.c, used through ``use-fcgi-app``): a FastCGI target, as
            # nginx's fastcgi_pass and Apache's fcgi:// are, probed with a FastCGI management
            # record.  Read as HTTP, a FastCGI server aimed at an HTTP port answered the probe's
            # GET with 200 and the mismatch could not show (fault-matrix.md stop 45).
            targets.append(TargetFact(
                key=key, kind="fastcgi" if srv.param("proto") == "fcgi" else "proxy",
                scheme="https" if "ssl" in srv.params else "http",
                host=srv.host, port=srv.port, unix_path=srv.unix_path, group=sec.name,
                file=srv.file, line=srv.line, server=frontend, location=None,
                settings=_settings(common, srv, held), pass_file=sec.file, pass_line=sec.line,
                # a name HAProxy resolves at run time through its ``resolvers`` section
                # (configuration.txt 5.3): the probe asks those nameservers, as HAProxy does
                resolvers=cfg.nameservers(srv.param("resolvers") or "") if srv.host else ()))
        aliases[f"{sec.name}/<NOSRV>"] = sec.name
        aliases[sec.name] = sec.name
        groups[sec.name] = GroupFact(name=sec.name, servers=tuple(keys), file=sec.file,
                                     line=sec.line)
    files = {path: tuple(text.splitlines()) for path, text in cfg.texts.items()}
    return targets, groups, files, aliases


def _frontends_by_backend(cfg: HaproxyConfig) -> dict[str, str]:
    """Backend name -> the first frontend whose ``default_backend``/``use_backend`` names it
    (a ``listen`` section serves itself).  One pass over the frontends' lines: asking each
    backend in turn walked every frontend line once per backend, quadratic in a config of many
    backends (5,000 backends: 2.3 s, 40,000: over 30 s)."""
    out: dict[str, str] = {}
    for fe in cfg.frontends:
        default = fe.default_backend
        if default is not None:
            out.setdefault(default, fe.name)
        for ln in fe.lines:
            if ln.keyword == "use_backend" and len(ln.words) > 1:
                out.setdefault(ln.words[1], fe.name)
    return out


def listens(cfg: HaproxyConfig) -> tuple[str, ...]:
    """HAProxy's own ``bind`` addresses (a backend pointing back at one is a loop)."""
    out = []
    for fe in cfg.frontends:
        for b in fe.binds:
            host, _, port = b.rpartition(":")
            if port.isdigit():
                out.append(hostport(host.strip("[]") or "0.0.0.0", int(port)))  # noqa: S104
    return tuple(out)


# a stick table's or a frontend's rate (configuration.txt 7.3.2/7.3.3: ``sc_http_req_rate(0)``,
# ``sc0_conn_rate``, ``src_http_req_rate``, ``fe_req_rate``, ``be_sess_rate``, ...)
_RATE_FETCH = re.compile(r"\b(?:sc\d?|src|fe|be)_\w*_rate\b|\b(?:fe|be)_(?:req|sess|conn)_rate\b")


def limit_settings(cfg: HaproxyConfig) -> tuple[Setting, ...]:
    """HAProxy's request-rate limits: each ``http-request deny``/``reject``/``tarpit`` line whose
    condition is a rate (configuration.txt 4.2 ``http-request deny [deny_status <code>]``, 403
    by default; ``tarpit`` 500), as written, by file and line.  What a ``<NOSRV> ... PR--``
    refusal (the proxy's own ``http-request`` rule) is when the rule that made it limits a
    rate: the proxy's rate limit, not the servers (``analyzers.routing``)."""
    out = []
    for sec in cfg.sections:
        for ln in sec.lines:
            words = ln.words
            if (len(words) > 1 and words[0] in ("http-request", "tcp-request")
                    and words[1] in ("deny", "reject", "tarpit", "silent-drop")
                    and _RATE_FETCH.search(" ".join(words))):
                out.append(Setting(" ".join(words), ln.file, ln.line))
    return tuple(out)


BUFSIZE, MAXREWRITE = 16384, 1024  # configuration.txt 3.2: tune.bufsize, tune.maxrewrite defaults


def header_limit(cfg: HaproxyConfig) -> tuple[int, Setting]:
    """The most response-header bytes HAProxy takes from a server: the buffer (``tune.bufsize``,
    16384 by default) less the room kept for rewrites (``tune.maxrewrite``, 1024 by default,
    half the buffer at most), configuration.txt 3.2; headers that do not fit are refused with
    502 and the termination state ``PH`` (src/http_ana.c http_wait_for_response(): the buffer
    full before the headers end)."""
    def last(keyword: str) -> tuple[int | None, Setting | None]:
        lines = cfg.global_values(keyword)
        if not lines or not lines[-1].value.isdigit():
            return None, None
        ln = lines[-1]
        return int(ln.value), Setting(f"{keyword} {ln.value}", ln.file, ln.line)

    size, size_line = last("tune.bufsize")
    rewrite, rewrite_line = last("tune.maxrewrite")
    size = size or BUFSIZE
    rewrite = min(rewrite if rewrite is not None else MAXREWRITE, size // 2)
    where = size_line or rewrite_line
    text = (f"tune.bufsize {size} less tune.maxrewrite {rewrite}"
            + ("" if size_line or rewrite_line else " (HAProxy's defaults)"))
    return size - rewrite, Setting(text, where.file if where else None, where.line if where else None,
                                   where is None)
