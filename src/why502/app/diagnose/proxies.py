"""Which proxy diagnose is about, and another proxy's config in the shape the default one's takes.

``--config FILE`` takes any registered proxy's config (an nginx config or ``nginx -T`` dump, an
Apache config, a ``haproxy.cfg``, a Caddyfile, an Envoy bootstrap); the kind is detected from the
content (``why502.proxies``, the one detector) unless ``--proxy`` forces it; ``--nginx-conf`` is
the same as ``--config FILE --proxy nginx``.  With no config named, nginx is diagnosed (as before)
unless ``--proxy`` names another one.

Every proxy's config is read into a :class:`ProxyView` by its own plug-in (``Hooks.diagnose_view``:
``proxies.<name>.diagnose``, the default one's too) or, with no plug-in, by its ``load_config``
and ``config_facts`` hooks (:func:`read_with_hooks`); nothing here names one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.app.stats.sniff import (
    sniff_access_logs as sniff_access_logs,  # (re-exported: proxies.haproxy.diagnose)
)
from why502.app.stats.sniff import sniff_error_logs
from why502.errors import InputError
from why502.evidence.model import GroupFact, TargetFact
from why502.facts.routes import PathRouter
from why502.facts.server_state import ServerState
from why502.facts.setting import Setting
from why502.findings.model import Diagnostic
from why502.proxies import DEFAULT, DEFAULT_FLAG, PROXIES, choose, found_on_host, get
from why502.proxies.base import resolve

#: ``(timeout, diags, inputs) -> states by target key``: a proxy's runtime API read now
LiveStates = Callable[[float, list[Diagnostic], dict[str, Any]], dict[str, ServerState] | None]


def which_proxy(options: DiagnoseOptions) -> str:
    """A name of ``why502.proxies.PROXIES``: ``--proxy``, else detected from ``--config``
    (``--nginx-conf`` names the default proxy's), else :func:`discovered`."""
    if options.proxy is not None:
        get(options.proxy)  # a one-line UsageError for an unknown name
    if options.default_proxy_config is not None:
        # a Caddyfile or a haproxy.cfg is never read as nginx: the registry's one check
        return choose(options.proxy, options.default_proxy_config, DEFAULT_FLAG)
    if options.proxy is None and options.config is None and not options.logs_only():
        return discovered()
    # logs only: read as the default proxy's (its readers know every proxy's lines), no config
    # looked for on this host (a log-only run reads no host config); unless an access log is in
    # another proxy's own format (HAProxy's httplog), which the default's reader cannot read
    if options.proxy is None and options.config is None:
        # HAProxy's one log named as an error log alone is its access log too
        sniffed = sniff_access_logs(list(options.access_logs) or list(options.error_logs))
        if sniffed is None:  # the error log's own head (Apache's)
            sniffed = sniff_error_logs(list(options.error_logs))
        if sniffed is not None:
            return sniffed
    return choose(options.proxy, options.config)


def discovered() -> str:
    """With no config named: every proxy is asked the same question, what of it this host has
    (``proxies.found_on_host``: its binary, its packaged config, from its ``Detection``).  The
    default proxy (nginx) when it has either (as before); else the first other one, in
    ``Detection.priority`` order, whose packaged config exists (as before: HAProxy's, then
    Apache's, Caddy's, Traefik's, Envoy's), else the first whose binary is installed (new: a
    HAProxy or Apache installed without its packaged config was not found); else the default."""
    found = {name: found_on_host(name) for name in PROXIES}
    if any(found[DEFAULT]):
        return DEFAULT
    others = sorted((p for p in PROXIES.values() if p.name != DEFAULT),
                    key=lambda p: -p.detection.priority)
    for kind in (1, 0):  # a packaged config, then a binary
        for proxy in others:
            if found[proxy.name][kind] is not None:
                return proxy.name
    return DEFAULT


@dataclass
class ProxyView:
    """A proxy's config joined into the cause model's types (its ``Hooks.diagnose_view`` plug-in,
    or :func:`read_with_hooks`): what ``inputs.read_config`` makes ``ConfigFacts`` of."""

    kind: str
    main_file: str
    targets: list[TargetFact]
    groups: dict[str, GroupFact]
    files: dict[str, tuple[str, ...]]
    aliases: dict[str, str]
    listens: tuple[str, ...] = ()
    user: str | None = None
    group: str | None = None
    runtime_socket: str | None = None
    error_logs: list[str] = field(default_factory=list)
    # whether the error log read would hold the proxy's own failures (``ConfigFacts``), None: unknown
    own_failures_logged: bool | None = None
    # its runtime API read live (HAProxy's ``show stat``: ``proxies.haproxy.diagnose``), None: none
    live_states: LiveStates | None = None
    # (host, request line) -> the peer key a log line that names no upstream is about (the
    # proxy's routing: Caddy's timeouts and EOFs name no upstream)
    route: Callable[[str | None, str | None], str | None] | None = None
    access_logs: list[str] = field(default_factory=list)
    # ``USER [GROUP]`` as the config writes it, when that is not ``user`` and ``group`` as read
    # (nginx's ``user www-data;``: the group defaults to the user's own, ``ngx_set_user()``)
    user_line: str | None = None
    # rate and connection limits on the way to the targets (nginx's limit_req/limit_conn)
    limit_settings: tuple[Setting, ...] = ()
    # the most response-header bytes the proxy takes (``ConfigFacts.header_limit``)
    header_limit: tuple[int, Setting] | None = None
    max_connections: Setting | None = None  # connections per worker (nginx's worker_connections)
    max_open_files: Setting | None = None  # the workers' fd limit (nginx's worker_rlimit_nofile)
    # the parsed config the statistics engine reads next to an access log in its own format
    # (``Capability.ENGINE_LOGS``: the log_format, locations and timeouts of nginx's model,
    # ``app.stats.compute_for_diagnose``); None for a proxy whose access log is rewritten first
    engine_config: Any = None
    # which targets a request path goes to, by the proxy's own matcher (``facts.routes.
    # PathRouter``: nginx's ``proxies.nginx.config.serving``, Apache's ``proxies.apache.serving``);
    # None: this proxy's plug-in has none ("can't tell")
    router: PathRouter | None = None

    @property
    def user_directive(self) -> str | None:
        """``USER [GROUP]`` (who connects to unix sockets), in nginx's ``user`` form."""
        if self.user_line is not None:
            return self.user_line
        if not self.user:
            return None
        return f"{self.user} {self.group}" if self.group else self.user


def read_with_hooks(options: DiagnoseOptions, diags: list[Diagnostic], inputs: dict[str, Any],
                    name: str) -> ProxyView:
    """A proxy's config read by its own hooks (``load_config``, then ``config_facts``): the
    path of any proxy whose ``Hooks.config_facts`` is set, with no branch here."""
    path = options.config or get(name).vocabulary.default_config
    return view_with_hooks(load_with_hooks(path, name), path, diags, inputs, name)


def load_with_hooks(path: str, name: str) -> object:
    """The proxy's config at ``path`` read by its ``load_config`` hook; an unreadable file is
    one line."""
    try:
        return resolve(get(name).hooks.load_config)(path)  # type: ignore[operator]
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None


def view_with_hooks(cfg: object, path: str, diags: list[Diagnostic], inputs: dict[str, Any],
                    name: str) -> ProxyView:
    """A config already loaded (from a file, or from a running proxy's admin API) as a
    :class:`ProxyView`, through the proxy's ``config_facts`` hook."""
    proxy = get(name)
    assert proxy.hooks.config_facts is not None
    targets, groups, files, listens_, notes = resolve(proxy.hooks.config_facts)(cfg)  # type: ignore[operator]
    diags += [Diagnostic("info", n) for n in notes]
    inputs["proxy"] = name
    inputs["config"] = path
    inputs["config_files"] = list(files)
    return ProxyView(name, path, targets, groups, files, peer_aliases(name, targets), tuple(listens_))


def peer_aliases(name: str, targets: list[TargetFact]) -> dict[str, str]:
    """The names the proxy's log lines give its targets, mapped onto the targets' keys: its facts
    plug-in's ``peer_aliases(targets)`` (``Hooks.facts``) when it has one, else none.  Before,
    a proxy read through ``config_facts`` could not say them (only a ``diagnose_view`` could):
    a Go error names the address it dialled (``dial tcp [::1]:8080``) where the config names
    ``localhost:8080``, and the finding could not be joined to the config's target."""
    hook = get(name).hooks.facts
    found = getattr(resolve(hook), "peer_aliases", None) if hook else None
    return dict(found(targets)) if callable(found) else {}


def server_states(view: ProxyView, timeout: float, diags: list[Diagnostic],
                  inputs: dict[str, Any]) -> dict[str, ServerState] | None:
    """Each server's state now, by target key, from the proxy's runtime API (its view's
    ``live_states``, HAProxy's ``show stat``); None when not read (a proxy without one, or a
    config that opens none)."""
    if view.live_states is None:
        return None
    return view.live_states(timeout, diags, inputs)
