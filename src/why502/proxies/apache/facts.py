"""An Apache httpd config's facts in the one cause model: a target per ProxyPass/BalancerMember/
SetHandler backend, a group per balancer, the effective timeout at each, the config's lines.

mod_proxy's error lines name the peer in several ways (docs/reference/proxy-messages.md, Apache):
``AH00957: http: attempt to connect to 127.0.0.1:8080 (127.0.0.1:8080) failed`` (host:port),
``AH01114: HTTP: failed to make connection to backend: 127.0.0.1`` (host only),
``AH02454: FCGI: attempt to connect to Unix domain socket /run/php/php-fpm.sock`` (a path) and
``AH01079: failed to make connection to backend: localhost`` (the ``fcgi://localhost`` of a
unix-socket worker), ``AH01102: error reading status line from remote server ::1:8080`` (an
IPv6 host:port without its brackets), ``AH01102: ... remote server localhost:80`` (a
unix-socket worker: the host and default port of the URL after ``|``).  ``aliases`` maps each
onto the identity key the analyzers use.
"""

from __future__ import annotations

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.setting import Setting
from why502.proxies.apache.config import DEFAULTS, ApacheConfig

# the default port of a unix-socket worker's scheme, as mod_proxy names its peer (above)
_UDS_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "fcgi": 8000, "ajp": 8009,
              "scgi": 4000, "h2c": 80, "h2": 443}


def apache_facts(cfg: ApacheConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                             dict[str, tuple[str, ...]], dict[str, str]]:
    """Targets, balancer groups, the files' lines, and peer aliases for the error-log lines."""
    targets: list[TargetFact] = []
    groups: dict[str, list[str]] = {}
    where: dict[str, tuple[str, int]] = {}
    aliases: dict[str, str] = {}
    hosts: dict[str, set[str]] = {}
    for t in cfg.targets():
        d = t.directive
        settings: dict[str, Setting] = {"timeout": cfg.timeout(t),
                                         "directive": Setting(d.name, d.file, d.line, False)}
        for name in ("retry", "connectiontimeout", "max", "enablereuse", "disablereuse"):
            v = t.param(name)
            settings[name] = (Setting(v, d.file, d.line, False) if v is not None else
                              Setting(DEFAULTS.get(name, ("", ""))[0], None, None, True))
        targets.append(TargetFact(
            key=t.key, kind=t.kind, scheme=t.scheme, host=t.host, port=t.port,
            unix_path=t.unix_path, group=t.group, file=d.file, line=d.line,
            server=cfg.vhost_of(d) or (d.vhost or "").removeprefix("VirtualHost ") or None,
            location=t.path,
            settings=settings, pass_file=d.file, pass_line=d.line))
        if t.group:
            groups.setdefault(t.group, []).append(t.key)
            where.setdefault(t.group, (d.file, d.line))
        if t.unix_path:
            aliases[t.unix_path] = t.key
            hosts.setdefault("localhost", set()).add(t.key)
            # the peer of AH01102/AH01095/AH01110 is backend->hostname ":" port, for a unix
            # socket worker the URL after "|" with its scheme's default port (proxy_util.c
            # ap_proxy_port_of_scheme: apr_uri_port_of_scheme, else fcgi 8000): "localhost:80"
            port = _UDS_PORTS.get(t.scheme or "http")
            if port is not None:
                aliases.setdefault(f"localhost:{port}", t.key)
        elif t.host:
            hosts.setdefault(t.host, set()).add(t.key)
            if ":" in t.host and t.port is not None:
                # mod_proxy_http writes the peer of AH01102 "error reading status line from
                # remote server %s:%d" (and AH01095, AH01110) as backend->hostname ":" port,
                # and apr_uri_parse() strips an IPv6 literal's brackets: "::1:8080", where the
                # identity key (and AH00957's "[::1]:8080") has them
                aliases.setdefault(f"{t.host.strip('[]')}:{t.port}", t.key)
    # the groups each key is served by, once: asking every target for each host was quadratic
    # in a config of many virtual hosts (20,000 hosts: minutes)
    groups_of: dict[str, set[str | None]] = {}
    for fact in targets:
        groups_of.setdefault(fact.key, set()).add(fact.group)
    for host, keys in hosts.items():
        owners = set().union(*(groups_of[k] for k in keys))
        if len(keys) == 1:
            aliases[host] = next(iter(keys))
        elif len(owners) == 1 and None not in owners:  # the members of one balancer
            aliases[host] = str(next(iter(owners)))
    if len({t.key for t in targets}) == 1:
        # AH01075 "Error dispatching request to : (polling)" names no peer: the only backend
        aliases[""] = targets[0].key
    elif len(groups) == 1 and all(t.group for t in targets):  # AH01170 names no peer either
        aliases[""] = next(iter(groups))
    elif not groups and len(fastcgi := {t.key for t in targets if t.kind == "fastcgi"}) == 1:
        # AH01075 is mod_proxy_fcgi's (mod_proxy_fcgi.c dispatch()); with no balancer (AH01170,
        # the other peer-less line) its one FastCGI backend is the peer, whatever HTTP backends
        # are beside it (another application's ProxyPass: the fault matrix's noisy host, where
        # the pool's read timeouts lost their target and outnumbered its connect timeouts, stop 46)
        aliases[""] = next(iter(fastcgi))
    for name in groups:
        # AH01170 "balancer://app: All workers are in error state" reads as the peer "app"
        aliases.setdefault(name.split("://", 1)[-1], name)
    gfacts = {name: GroupFact(name=name, servers=tuple(keys), file=where[name][0],
                              line=where[name][1])
              for name, keys in groups.items()}
    files = {path: tuple(text.splitlines()) for path, text in cfg.texts.items()}
    return targets, gfacts, files, aliases
