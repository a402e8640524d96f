"""Assemble the model from the directive tree: servers with their locations and scopes,
upstream groups, logs and log formats, the main-context settings (``user``,
``worker_connections``, ...).

Fragments are read the way nginx would read them once included: a file with ``server`` blocks
but no ``http`` is an http-level fragment, a file with only ``location`` blocks a server-level
one (see :func:`build_model`).
"""

from __future__ import annotations

from why502.proxies.nginx.config.model import (
    Location,
    LogFormat,
    LogTarget,
    NginxConfig,
    ParseProblem,
    Server,
)
from why502.proxies.nginx.config.targets import UpstreamGroup, number, parse_listen, upstream_group
from why502.proxies.nginx.config.tree import Directive, Scope

# nginx's built-in "combined" format (src/http/modules/ngx_http_log_module.c, ngx_http_combined_fmt).
COMBINED_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)


class _ModelBuilder:
    def __init__(self) -> None:
        self.servers: list[Server] = []
        self.stream_servers: list[Server] = []
        self.upstreams: dict[str, UpstreamGroup] = {}
        self.stream_upstreams: dict[str, UpstreamGroup] = {}
        self.error_logs: list[LogTarget] = []
        self.access_logs: list[LogTarget] = []
        self.log_formats: dict[str, LogFormat] = {
            "combined": LogFormat("combined", "default", COMBINED_FORMAT)}

    def logs(self, scope: Scope, context: str, server: str | None) -> None:
        for d in scope.directives:
            if d.name == "error_log" and d.args:
                level = d.args[1] if len(d.args) > 1 else "error"
                self.error_logs.append(LogTarget(d.args[0], None, level, d.file, d.line, context, server,
                                                 d.args[1:]))
            elif d.name == "access_log" and d.args:
                fmt = None if d.args[0] == "off" else (d.args[1] if len(d.args) > 1 and "=" not in d.args[1]
                                                       else "combined")
                self.access_logs.append(LogTarget(d.args[0], fmt, None, d.file, d.line, context, server,
                                                  d.args[1:]))
            elif d.name == "log_format" and d.args:
                rest = list(d.args[1:])
                escape = "default"
                if rest and rest[0].startswith("escape="):
                    escape = rest.pop(0).split("=", 1)[1]
                self.log_formats[d.args[0]] = LogFormat(d.args[0], escape, "".join(rest), d.file, d.line)

    def location(self, d: Directive, parents: tuple[Scope, ...], server_index: int, depth: int,
                 server_name: str) -> Location:
        modifier: str | None
        if d.name == "if":
            modifier, path = "if", "(" + " ".join(d.args) + ")"
        elif len(d.args) >= 2:
            modifier, path = d.args[0], d.args[1]
        else:
            path = d.args[0] if d.args else ""
            modifier = "@" if path.startswith("@") else None
        scope = Scope("if" if d.name == "if" else "location", d.block or (), d.file, d.line)
        self.logs(scope, "location", server_name)
        scopes = (*parents, scope)
        children = tuple(self.location(c, scopes, server_index, depth + 1, server_name)
                         for c in d.block or () if c.name in ("location", "if"))
        return Location(modifier, path, d.file, d.line, scopes, children, server_index, depth)

    def server(self, d: Directive, parents: tuple[Scope, ...], context: str, index: int) -> Server:
        scope = Scope("server", d.block or (), d.file, d.line)
        names = tuple(n for c in d.children("server_name") for n in c.args)
        name = names[0] if names else ""
        self.logs(scope, "server", name)
        scopes = (*parents, scope)
        locations = tuple(self.location(c, scopes, index, 0, name)
                          for c in d.block or () if c.name in ("location", "if"))
        listens = tuple(parse_listen(c) for c in d.children("listen"))
        return Server(listens, names, d.file, d.line, scopes, locations, context, index)


def build_model(main_file: str, directives: tuple[Directive, ...], files: list[str],
                problems: list[ParseProblem], source: str, texts: dict[str, str]) -> NginxConfig:
    """Turn the directive tree into an ``NginxConfig``.

    A file without ``http``/``events`` blocks but with ``server``/``location`` at top level is a
    fragment (a ``conf.d`` file or a server snippet): it is read as if wrapped in ``http {}``
    (or ``server {}``), which is how nginx would see it once included.
    """
    main = Scope("main", directives, main_file, 1)
    mb = _ModelBuilder()
    mb.logs(main, "main", None)
    http_blocks = [d for d in directives if d.name == "http"]
    top_servers = [d for d in directives if d.name == "server" and d.block is not None]
    top_locations = [d for d in directives if d.name == "location"]
    http_scope: Scope | None = None
    http_dirs: tuple[Directive, ...]
    if http_blocks:
        http_dirs = tuple(c for h in http_blocks for c in h.block or ())
        http_scope = Scope("http", http_dirs, http_blocks[0].file, http_blocks[0].line)
    elif top_locations and not top_servers:
        # server-level fragment: wrap it in a pseudo server
        pseudo = Directive("server", (), main_file, 1, directives)
        http_dirs = (pseudo,)
        http_scope = Scope("http", (), main_file, 1)
        problems.append(ParseProblem("info", "no http block: read as a server-level fragment", main_file))
    else:
        http_dirs = directives if top_servers or any(d.name == "upstream" for d in directives) else ()
        if http_dirs and not http_blocks:
            http_scope = Scope("http", tuple(d for d in directives if d.name != "server"), main_file, 1)
            problems.append(ParseProblem("info", "no http block: read as an http-level fragment", main_file))
    if http_scope is not None and http_blocks:
        mb.logs(http_scope, "http", None)
    parents = (main,) + ((http_scope,) if http_scope is not None else ())
    for d in http_dirs:
        if d.name == "upstream" and d.block is not None and d.args:
            mb.upstreams[d.args[0]] = upstream_group(d, "http")
    for d in http_dirs:
        if d.name == "server" and d.block is not None:
            mb.servers.append(mb.server(d, parents, "http", len(mb.servers)))
    for s in (d for d in directives if d.name == "stream"):
        stream_scope = Scope("stream", s.block or (), s.file, s.line)
        mb.logs(stream_scope, "stream", None)
        for c in s.block or ():
            if c.name == "upstream" and c.block is not None and c.args:
                mb.stream_upstreams[c.args[0]] = upstream_group(c, "stream")
        for c in s.block or ():
            if c.name == "server" and c.block is not None:
                mb.stream_servers.append(mb.server(c, (main, stream_scope), "stream", len(mb.stream_servers)))

    user = group = None
    user_is_default = True
    u = main.get("user")
    if u and u[-1].args:
        user = u[-1].args[0]
        group = u[-1].args[1] if len(u[-1].args) > 1 else None
        user_is_default = False
    wc_dir: Directive | None = None
    worker_connections = 512
    for ev in (d for d in directives if d.name == "events"):
        for c in ev.children("worker_connections"):
            if c.args and (n := number(c.args[0])) is not None:
                wc_dir, worker_connections = c, n
    rl = main.get("worker_rlimit_nofile")
    rlimit = number(rl[-1].args[0]) if rl and rl[-1].args else None
    wp = main.get("worker_processes")
    worker_processes = wp[-1].value if wp else "1"
    return NginxConfig(
        main_file=main_file, files=files, main=main, http=http_scope, servers=mb.servers,
        upstreams=mb.upstreams, user=user, group=group, user_is_default=user_is_default,
        worker_connections=worker_connections, worker_connections_line=wc_dir,
        worker_rlimit_nofile=rlimit, worker_processes=worker_processes, error_logs=mb.error_logs,
        access_logs=mb.access_logs, log_formats=mb.log_formats, problems=problems, source=source,
        texts=texts, stream_servers=mb.stream_servers, stream_upstreams=mb.stream_upstreams,
    )

