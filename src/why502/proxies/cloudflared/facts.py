"""A cloudflared config's facts in the one cause model: a target per ingress rule that reaches an
origin (its ``service:`` URL or unix socket; ``http_status:``, ``hello_world`` and the like reach
none), a group per origin service, named as cloudflared's log names it (``originService=
http://...``, proxy/logger.go; ``parsers``' record of a line carries it as its group), and at each
target the rule's effective ``originRequest`` (``config.py``: the rule's keys over the top-level
ones over cloudflared's defaults, each with its file:line or marked default).

A group keeps idle connections by default (Go's ``http.Transport`` with ``MaxIdleConnsPerHost`` =
keepAliveConnections and ``IdleConnTimeout`` = keepAliveTimeout, ingress/origin_service.go): its
``keepalive`` is the pool's size and its ``keepalive_timeout`` the idle time in seconds (``90s``
for the default ``1m30s``), where the keep-alive race analyzer reads them.  What passes to the
target (``pass_line``) is the rule: an ``originRequest`` key is set or added there; the target's
own line is the rule's ``service:``."""

from __future__ import annotations

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.setting import Setting
from why502.proxies.cloudflared.config import (
    CloudflaredConfig,
    Rule,
    duration_seconds,
    go_duration,
    localhost,
)


def _idle(rule: Rule) -> Setting:
    kt = rule.settings["keepAliveTimeout"]
    secs = duration_seconds(kt.value)
    return Setting(go_duration(secs), kt.file, kt.line, kt.is_default) if secs is not None else kt


def cloudflared_facts(cfg: CloudflaredConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                                       dict[str, tuple[str, ...]]]:
    targets: list[TargetFact] = []
    members: dict[str, list[Rule]] = {}
    for rule in cfg.origins():
        key = rule.key
        assert key is not None
        settings = dict(rule.settings)
        settings["directive"] = Setting(f"ingress rule {rule.index} ({rule.route})", cfg.path, rule.line,
                                        False)
        host, port = rule.host_port
        targets.append(TargetFact(
            key=key, kind="proxy", scheme=rule.scheme, host=host, port=port, unix_path=rule.unix_path,
            group=rule.service, file=cfg.path, line=rule.service_line, server=rule.hostname or None,
            location=rule.path or None, settings=settings, pass_file=cfg.path, pass_line=rule.line))
        members.setdefault(rule.service, []).append(rule)
    groups: dict[str, GroupFact] = {}
    for service, rules in members.items():
        first = rules[0]
        pool = first.settings["keepAliveConnections"]
        try:
            size = int(pool.value)
        except ValueError:
            size = None
        groups[service] = GroupFact(
            name=service, servers=tuple(dict.fromkeys(r.key for r in rules if r.key)), file=cfg.path,
            line=first.line, server_lines={first.key: (cfg.path, first.line or 0)} if first.key else {},
            keepalive=size if size and size > 0 else None, keepalive_line=pool.line,
            keepalive_timeout=_idle(first))
    return targets, groups, {cfg.path: tuple(cfg.text.splitlines())}


def peer_aliases(targets: list[TargetFact]) -> dict[str, str]:
    """The addresses Go's errors name for a target on ``localhost`` (``Hooks.facts``): the dialer
    resolves the name and its error carries the address it dialled, ``dial tcp [::1]:8080`` or
    ``dial tcp 127.0.0.1:8080`` (golang/go net/dial.go), so both loopback addresses of the port
    are this target unless another target has that address."""
    keys = {t.key for t in targets}
    out: dict[str, str] = {}
    for t in targets:
        if localhost(t.host) and t.port:
            for addr in (f"[::1]:{t.port}", f"127.0.0.1:{t.port}"):
                if addr not in keys:
                    out.setdefault(addr, t.key)
    return out


def edge_facts(cfg: CloudflaredConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                                dict[str, tuple[str, ...]], tuple[str, ...], list[str]]:
    """``Hooks.config_facts``: targets, groups, files, listens (none: cloudflared listens on no
    port for the tunnel's traffic, it dials out to Cloudflare), notes: the file's problems and
    each rule that answers a status itself (``http_status:``)."""
    targets, groups, files = cloudflared_facts(cfg)
    notes = list(cfg.problems)
    notes += [f"ingress rule {r.index} ({r.route}, {cfg.path}:{r.line}) answers {r.status} itself "
              "(http_status)" for r in cfg.rules if r.status is not None and not r.catch_all]
    return targets, groups, files, (), notes
