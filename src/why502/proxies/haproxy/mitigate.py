"""HAProxy's part of ``why502 mitigate`` (its ``mitigate`` plug-in, reached through
``Hooks.mitigate``): its backends, and taking a server out through the runtime API on the stats
socket -- no reload, nothing written to the config.

``set server <backend>/<server> state maint`` puts the server in maintenance: no new traffic,
health checks stopped; ``state ready`` puts it back (management.txt 9.3, "set server").  A
server ``show stat`` already shows in MAINT or DRAIN counts as out of rotation and is never
proposed, so the state before a take-out is always ``ready``, and the undo sets it back.  The
socket is the one the config's ``stats socket`` names, and the
config is the running proxy's or the command line's (``app.fix.policy``), never a report's word.
"""

from __future__ import annotations

from why502.app.mitigate.model import Group, Member, RuntimeApi, Stopgaps
from why502.errors import InputError
from why502.facts.server_state import ServerState
from why502.proxies.base import resolve
from why502.proxies.haproxy.config import HaproxyConfig
from why502.proxies.haproxy.proxy import PROXY as HAPROXY

MAINT, READY = "maint", "ready"


def haproxy_config(path: str) -> HaproxyConfig:
    """The ``haproxy.cfg`` at ``path``, parsed once per run by HAProxy's source plug-in
    (``Hooks.source``: a plug-in is resolved by name, never imported by the layer it serves)."""
    return resolve(HAPROXY.hooks.source).haproxy_config(path)  # type: ignore[attr-defined, no-any-return]


def server_states(cfg: HaproxyConfig) -> tuple[list[ServerState], list[str]]:
    """``show stat`` on the config's stats socket (HAProxy's source plug-in)."""
    return resolve(HAPROXY.hooks.source).server_states(cfg)  # type: ignore[attr-defined, no-any-return]


def runtime_command(address: str, command: str, timeout: float) -> str:
    """One runtime-API command and its whole answer (HAProxy's source plug-in)."""
    return resolve(HAPROXY.hooks.source).runtime_command(address, command, timeout)  # type: ignore[attr-defined, no-any-return]


def haproxy_groups(conf: str) -> tuple[HaproxyConfig, list[Group]]:
    """The config and its backends (and listen sections) with servers; a server the runtime API
    shows in maintenance or draining counts as already out of rotation."""
    try:
        cfg = haproxy_config(conf)
    except OSError as err:
        raise InputError(f"cannot read {conf}: {err.strerror or err}") from None
    states, _notes = server_states(cfg)
    out_now = {s.name for s in states if s.status.startswith(("MAINT", "DRAIN"))}
    groups = []
    for section in cfg.backends:
        members = tuple(Member(s.name, s.address, s.host, s.port, s.unix_path, s.file, s.line, s.backup,
                               f"{section.name}/{s.name}" in out_now) for s in section.servers)
        if members:
            groups.append(Group(section.name, members, section.file, section.line))
    return cfg, groups


def haproxy_socket(cfg: HaproxyConfig) -> str:
    """The first ``stats socket`` that answers; refuses without one (runtime changes need it)."""
    for address in cfg.stats_sockets:
        try:
            runtime_command(address, "show info", timeout=2.0)
        except (OSError, ValueError):
            continue
        return address
    raise InputError("HAProxy has no stats socket that answers (stats socket PATH level admin in global): "
                     "a server cannot be taken out without a reload; nothing done")


def haproxy_set_state(socket: str, backend: str, server: str, state: str) -> None:
    """``set server BACKEND/SERVER state STATE``; an answer other than empty is HAProxy's refusal
    (a socket below ``level admin`` says "Permission denied")."""
    try:
        answer = runtime_command(socket, f"set server {backend}/{server} state {state}", timeout=5.0).strip()
    except OSError as err:
        raise InputError(f"HAProxy runtime API {socket}: {err.strerror or err}") from None
    if answer:
        raise InputError(f"HAProxy refused 'set server {backend}/{server} state {state}': {answer[:200]}")


def haproxy_state(cfg: HaproxyConfig, backend: str, server: str) -> str | None:
    """The server's status as ``show stat`` says it now (UP, DOWN, MAINT, ...)."""
    states, _notes = server_states(cfg)
    for s in states:
        if s.backend == backend and s.server == server:
            return s.status
    return None


STOPGAPS = Stopgaps(groups=haproxy_groups,
                    runtime=RuntimeApi(load=haproxy_config, socket=haproxy_socket,
                                       set_state=haproxy_set_state, state=haproxy_state, out=MAINT,
                                       back=READY, shown_out="MAINT"))
"""HAProxy's stop-gaps (``Hooks.mitigate``): a server taken out through the runtime API."""
