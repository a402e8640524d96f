"""``why502 lint`` wiring: read the config (and, for this host, FPM pools and limits), run the
checks, hand the report to a reporter (``reporters.lint_text``, ``lint_json``, ``sarif``).

The config may be any proxy's of ``why502.proxies`` (``proxy``, else detected from the content by
the registry's one detector); each runs the rules registered for it.

Host facts are used only when linting this host's nginx (no NGINX_CONF argument, or ``--host``):
a config copied from another machine must not be judged against this machine's somaxconn.  For
the same reason a named NGINX_CONF's absolute includes are not read from this machine unless
``--host`` (or ``--root DIR``, a copied tree) says so: each is a note naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from why502.analyzers.lint import (
    LINT_INPUTS,
    AnyLintInput,
    ApacheLintInput,
    EnvoyLintInput,
    HaproxyLintInput,
    LintFinding,
    LintInput,
    run_lint,
    severity_rank,
)
from why502.app.diagnose.options import unreadable
from why502.catalog.lint_rules import resolve_rules
from why502.errors import InputError, UsageError
from why502.facts.fpm import FpmPool
from why502.findings.lint import LintNote, LintReport
from why502.parsers.nginx import NginxConfig
from why502.parsers.nginx.units import parse_size
from why502.proxies import get
from why502.proxies.apache.config import ApacheConfig
from why502.proxies.base import resolve
from why502.proxies.envoy.config import EnvoyConfig
from why502.proxies.haproxy.config import HaproxyConfig
from why502.textutil import strip_terminal_escapes


@dataclass
class LintOptions:
    nginx_conf: str | None = None
    fpm_conf: list[str] = field(default_factory=list)
    host: bool | None = None  # None: only when nginx_conf is None
    header_bytes: int | None = None
    backend_timeout: float | None = None
    backend_keepalive: float | None = None
    somaxconn: int | None = None
    mem_total: int | None = None
    nofile: int | None = None
    rules: list[str] = field(default_factory=list)
    root: str | None = None
    ignore: list[str] = field(default_factory=list)  # codes or names, each may be a comma list
    enable: list[str] = field(default_factory=list)  # off-by-default rules to run as well
    inline_ignores: bool = True  # honour "# why502: ignore" comments in the config
    proxy: str | None = None  # nginx | haproxy | apache; None: detected from nginx_conf's content


@dataclass
class LintOutcome:
    config: NginxConfig | HaproxyConfig | ApacheConfig | EnvoyConfig
    findings: list[LintFinding]
    notes: list[LintNote]
    inputs: dict[str, Any]

    def report(self) -> LintReport:
        """The plain report the reporters render."""
        return LintReport(tuple(self.findings), tuple(self.notes), self.inputs, len(self.config.files))


def _pools_from_files(paths: list[str], notes: list[LintNote]) -> list[FpmPool]:
    """FPM pools: the FPM config loader (includes, discovery), per given path."""
    from why502.sources.fpm import load_fpm_config

    # one load for all of them: a file reached from two of them is read (and warned about) once
    fpm = load_fpm_config(paths or None)
    for d in fpm.diagnostics:
        if paths or d.severity != "info":
            notes.append(LintNote(d.severity, d.message, d.source, None))
    return list(fpm.pools)


def _codes(args: list[str], option: str) -> set[str]:
    try:
        return resolve_rules(args, option)
    except ValueError as err:
        raise UsageError(str(err)) from None


def proxy_of(options: LintOptions) -> str:
    """The proxy whose rules run: ``options.proxy``, else the config's kind (the default proxy
    for none or stdin, which is an ``nginx -T`` dump): ``why502.proxies.choose``."""
    from why502.proxies import choose

    return choose(options.proxy, options.nginx_conf)


_Config = TypeVar("_Config")


def _read(proxy: str, reader: str, path: str, kind: type[_Config]) -> _Config:
    """``path`` read by ``reader`` of the proxy's source plug-in (``Hooks.source``: parsed once
    per run; a plug-in is resolved by name, never imported by the layer it serves)."""
    cfg = resolve(f"{get(proxy).hooks.source}:{reader}")(path)  # type: ignore[operator]
    assert isinstance(cfg, kind)
    return cfg


def _other_proxy(options: LintOptions, proxy: str, only: set[str] | None, ignore: set[str],
                 enable: set[str]) -> LintOutcome:
    """HAProxy or Apache httpd: read the named file (includes for Apache), the FPM pools when
    given (or this host's with ``--host``), run that proxy's rules."""
    path = options.nginx_conf
    if not path or path == "-":
        raise UsageError(f"lint --proxy {proxy} needs the config file (--config FILE)")
    if options.root is not None:
        raise UsageError("--root applies to nginx configs only")
    notes: list[LintNote] = []
    cfg: HaproxyConfig | ApacheConfig | EnvoyConfig
    inp: AnyLintInput
    pools: list[FpmPool] = []
    try:
        if proxy == "haproxy":
            cfg = _read(proxy, "haproxy_config", path, HaproxyConfig)
            notes += [LintNote(p.severity, p.message, p.file, p.line) for p in cfg.problems]
            inp = HaproxyLintInput(cfg, backend_timeout=options.backend_timeout)
        elif LINT_INPUTS.get(proxy) is EnvoyLintInput:
            # read by the loader its Proxy names (hooks.load_config), linted with its own input
            cfg = resolve(get(proxy).hooks.load_config)(path)  # type: ignore[operator]
            assert isinstance(cfg, EnvoyConfig)
            notes += [LintNote("info", m) for m in cfg.problems]
            inp = EnvoyLintInput(cfg, backend_timeout=options.backend_timeout,
                                 backend_keepalive=options.backend_keepalive)
        else:
            cfg = _read(proxy, "apache_config", path, ApacheConfig)
            notes += [LintNote("warning", m) for m in cfg.problems]
            if options.fpm_conf:
                pools = _pools_from_files(options.fpm_conf, notes)
            elif options.host:
                pools = _pools_from_files([], notes)
            inp = ApacheLintInput(cfg, pools=tuple(pools), backend_timeout=options.backend_timeout)
    except OSError as err:
        raise InputError(strip_terminal_escapes(f"{path}: {err.strerror or err}")) from None
    if isinstance(cfg, EnvoyConfig):
        if not (cfg.clusters or cfg.listeners or cfg.routes):
            raise InputError(f"{path}: not a readable Envoy config: no listener, route or cluster in it")
    elif not (cfg.sections if isinstance(cfg, HaproxyConfig) else cfg.directives):
        raise InputError(strip_terminal_escapes(
            f"{path}: not a readable {'haproxy.cfg' if proxy == 'haproxy' else 'Apache config'}: "
            "no section or directive in it").splitlines()[0])
    findings = run_lint(inp, only, ignore=ignore, inline=options.inline_ignores, enable=enable)
    inputs = {
        "nginx_conf": path, "proxy": proxy, "files": cfg.files,
        "fpm_pools": [f"{p.name} ({p.file})" for p in pools], "host_facts": bool(options.host),
        "backend_timeout": options.backend_timeout,
    }
    if isinstance(inp, EnvoyLintInput):
        inputs["backend_keepalive"] = options.backend_keepalive
    return LintOutcome(cfg, findings, notes, inputs)


def _hooked(options: LintOptions, proxy: str, only: set[str] | None, ignore: set[str],
            enable: set[str]) -> LintOutcome:
    """A proxy that names its lint input (``Hooks.lint_input``): its config read by its loader
    (``Hooks.load_config``), its rules run on it."""
    from why502.proxies import PROXIES
    from why502.proxies.base import resolve

    hooks = PROXIES[proxy].hooks
    path = options.nginx_conf
    if not path or path == "-":
        raise UsageError(f"lint --proxy {proxy} needs the config file (--config FILE)")
    if options.root is not None:
        raise UsageError("--root applies to nginx configs only")
    try:
        cfg: Any = resolve(hooks.load_config)(path)  # type: ignore[operator]
    except OSError as err:
        raise InputError(strip_terminal_escapes(f"{path}: {err.strerror or err}")) from None
    notes = [LintNote("warning", str(p)) for p in getattr(cfg, "problems", ())]
    inp = resolve(hooks.lint_input)(cfg)  # type: ignore[operator]
    findings = run_lint(inp, only, ignore=ignore, inline=options.inline_ignores, enable=enable)
    inputs = {"nginx_conf": path, "proxy": proxy, "files": list(getattr(cfg, "files", [path])),
              "fpm_pools": [], "host_facts": False, "backend_timeout": options.backend_timeout}
    return LintOutcome(cfg, findings, notes, inputs)


def gather(options: LintOptions) -> LintOutcome:
    """Read everything lint needs (sources), then run the pure checks."""
    only = _codes(options.rules, "--rule") if options.rules else None
    ignore = _codes(options.ignore, "--ignore")
    enable = _codes(options.enable, "--enable")
    proxy = proxy_of(options)
    from why502.proxies import PROXIES

    if PROXIES[proxy].hooks.lint_input:
        return _hooked(options, proxy, only, ignore, enable)
    if proxy != "nginx":
        return _other_proxy(options, proxy, only, ignore, enable)
    from why502.sources.nginx import load_config

    if options.root is not None:
        from why502.sources.nginx import nginx_config

        if not options.nginx_conf:
            raise UsageError("--root needs NGINX_CONF")
        try:
            cfg = nginx_config(options.nginx_conf, root=options.root)
        except OSError as err:
            raise InputError(f"{options.nginx_conf}: {err.strerror or err}") from None
    else:
        # a named config is read alone: its absolute includes name files of the machine it is
        # for, which this one may not be (issue 26); --root DIR or --host says where they are
        cfg = load_config(options.nginx_conf, host_paths=options.nginx_conf is None or bool(options.host))
    errors = [p for p in cfg.problems if p.severity == "error"]
    if not cfg.main.directives and errors:
        where = f"{errors[0].file}:{errors[0].line}" if errors[0].line else (errors[0].file or cfg.main_file)
        msg = strip_terminal_escapes(f"{where}: not a readable nginx config: {errors[0].message}")
        raise InputError(msg.splitlines()[0] if msg else "not a readable nginx config")
    notes = [LintNote(p.severity, p.message, p.file, p.line, unread=p.unread) for p in cfg.problems]
    use_host = options.host if options.host is not None else options.nginx_conf is None
    pools: list[FpmPool] = []
    if options.fpm_conf:
        for path in options.fpm_conf:
            # named with a flag: unreadable is exit 3, as for diagnose (going on without it
            # would lint as if no pool existed and could say "no findings")
            why = unreadable(path)
            if why is not None:
                raise InputError(f"--fpm-conf {path}: {why}")
        pools = _pools_from_files(options.fpm_conf, notes)
    elif use_host:
        pools = _pools_from_files([], notes)
    somaxconn, mem_total, nofile = options.somaxconn, options.mem_total, options.nofile
    groups: tuple[str, ...] = ()
    if use_host:
        from why502.sources.nginx import host_facts

        facts = host_facts(cfg)
        somaxconn = somaxconn or facts.somaxconn
        mem_total = mem_total or facts.mem_total
        nofile = nofile or facts.nofile
        groups = facts.nginx_groups
        notes.extend(LintNote("info", m) for m in facts.notes)
    inp = LintInput(config=cfg, pools=tuple(pools), header_bytes=options.header_bytes,
                    backend_timeout=options.backend_timeout, backend_keepalive=options.backend_keepalive,
                    somaxconn=somaxconn, mem_total=mem_total, nofile=nofile, nginx_groups=groups)
    findings = run_lint(inp, only, ignore=ignore, inline=options.inline_ignores, enable=enable)
    inputs = {
        "nginx_conf": options.nginx_conf or cfg.source, "proxy": "nginx", "files": cfg.files,
        "fpm_pools": [f"{p.name} ({p.file})" for p in pools], "host_facts": use_host,
        "somaxconn": somaxconn, "mem_total": mem_total, "nofile": nofile,
        "header_bytes": options.header_bytes, "backend_timeout": options.backend_timeout,
        "backend_keepalive": options.backend_keepalive,
    }
    return LintOutcome(cfg, findings, notes, inputs)


def exit_code(findings: list[LintFinding], fail_on: str) -> int:
    """1 when a finding is at or above ``fail_on`` (``never`` disables), else 0."""
    if fail_on == "never":
        return 0
    limit = severity_rank(fail_on)
    return 1 if any(severity_rank(f.severity) >= limit for f in findings) else 0


def parse_mem(text: str) -> int:
    size = parse_size(text)
    if size is None:
        raise UsageError(f"bad size {text!r} (e.g. 2048m, 4g)")
    return size
