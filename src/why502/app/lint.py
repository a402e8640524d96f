"""``why502 lint`` wiring: read the config (and, for this host, FPM pools and limits), run the
checks, hand the report to a reporter (``reporters.lint_text``, ``lint_json``, ``sarif``).

The config may be any proxy's of ``why502.proxies`` (``proxy``, else detected from the content by
the registry's one detector); each runs the rules registered for it.  What differs per proxy is
its lint plug-in's ``LintSpec`` (``Hooks.lint_input``: how its input is built from the config and
the facts, what reading said, when a file read is no config of it); its config is read by its
``Hooks.load_config``, except a proxy with ``Capability.LINT_HOST_FACTS`` (a dump on stdin, this
host's ``-T`` dump, ``--root DIR``: :func:`_host_proxy`).

Host facts are used only when linting this host's config (no NGINX_CONF argument, or ``--host``):
a config copied from another machine must not be judged against this machine's somaxconn.  For
the same reason a named NGINX_CONF's absolute includes are not read from this machine unless
``--host`` (or ``--root DIR``, a copied tree) says so: each is a note naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from why502.analyzers.lint import LintFacts, LintFinding, LintSpec, run_lint, severity_rank
from why502.app.diagnose.options import unreadable
from why502.catalog.lint_rules import resolve_rules
from why502.errors import InputError, UsageError
from why502.facts.fpm import FpmPool
from why502.findings.lint import LintNote, LintReport
from why502.proxies import Capability, Proxy, get, source_of
from why502.proxies.base import resolve
from why502.textutil import parse_size, strip_terminal_escapes


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
    proxy: str | None = None  # a registered proxy's name; None: detected from nginx_conf's content
    concurrency: int | None = None  # requests in flight at once the site expects (--concurrency)


@dataclass
class LintOutcome:
    config: Any  # the proxy's config model (``files``, ``main_file``): its Hooks.load_config's
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


def _spec(proxy: Proxy) -> LintSpec:
    """The proxy's lint plug-in's ``LintSpec`` (``Hooks.lint_input``)."""
    spec = resolve(proxy.hooks.lint_input)
    assert isinstance(spec, LintSpec), proxy.hooks.lint_input
    return spec


def _named_file(options: LintOptions, proxy: Proxy, spec: LintSpec, only: set[str] | None,
                ignore: set[str], enable: set[str]) -> LintOutcome:
    """A proxy whose config is a named file: read by its loader (``Hooks.load_config``), the FPM
    pools when its rules read them (``--fpm-conf``, or this host's with ``--host``), its rules
    run on the input its plug-in builds."""
    path = options.nginx_conf
    if not path or path == "-":
        raise UsageError(f"lint --proxy {proxy.name} needs the config file (--config FILE)")
    if options.root is not None:
        raise UsageError("--root applies to nginx configs only")
    pools: list[FpmPool] = []
    try:
        cfg = resolve(proxy.hooks.load_config)(path)  # type: ignore[operator]
        notes = spec.notes(cfg)
        if spec.pools and options.fpm_conf:
            pools = _pools_from_files(options.fpm_conf, notes)
        elif spec.pools and options.host:
            pools = _pools_from_files([], notes)
    except OSError as err:
        raise InputError(strip_terminal_escapes(f"{path}: {err.strerror or err}")) from None
    why = spec.unreadable(cfg)
    if why is not None:
        raise InputError(strip_terminal_escapes(f"{path}: {why}").splitlines()[0])
    # what the flags say (never this host's limits: those are LINT_HOST_FACTS' path); the
    # plug-in's input keeps what its rules read
    facts = LintFacts(pools=tuple(pools), header_bytes=options.header_bytes,
                      backend_timeout=options.backend_timeout,
                      backend_keepalive=options.backend_keepalive, somaxconn=options.somaxconn,
                      mem_total=options.mem_total, nofile=options.nofile,
                      concurrency=options.concurrency)
    findings = run_lint(spec.build(cfg, facts), only, ignore=ignore, inline=options.inline_ignores,
                        enable=enable)
    inputs: dict[str, Any] = {
        "nginx_conf": path, "proxy": proxy.name, "files": list(cfg.files),
        "fpm_pools": [f"{p.name} ({p.file})" for p in pools],
        "host_facts": bool(options.host) and spec.echo_host,
    }
    inputs.update((name, getattr(facts, name)) for name in spec.inputs)
    return LintOutcome(cfg, findings, notes, inputs)


def gather(options: LintOptions) -> LintOutcome:
    """Read everything lint needs (sources), then run the pure checks."""
    only = _codes(options.rules, "--rule") if options.rules else None
    ignore = _codes(options.ignore, "--ignore")
    enable = _codes(options.enable, "--enable")
    proxy = get(proxy_of(options))
    spec = _spec(proxy)
    if not proxy.can(Capability.LINT_HOST_FACTS):
        return _named_file(options, proxy, spec, only, ignore, enable)
    return _host_proxy(options, proxy, spec, only, ignore, enable)


def _host_proxy(options: LintOptions, proxy: Proxy, spec: LintSpec, only: set[str] | None,
                ignore: set[str], enable: set[str]) -> LintOutcome:
    """A proxy with ``Capability.LINT_HOST_FACTS`` (nginx's reader: ``proxies.nginx.source``): no
    NGINX_CONF is this host's config (``nginx -T``), ``-`` a dump on stdin, ``--root DIR`` a
    copied tree; this host's FPM pools and limits are read with ``--host`` (or no NGINX_CONF)."""
    source = source_of(proxy.name)
    if options.root is not None:
        if not options.nginx_conf:
            raise UsageError("--root needs NGINX_CONF")
        try:
            cfg = source.nginx_config(options.nginx_conf, root=options.root)
        except OSError as err:
            raise InputError(f"{options.nginx_conf}: {err.strerror or err}") from None
    else:
        # a named config is read alone: its absolute includes name files of the machine it is
        # for, which this one may not be (issue 26); --root DIR or --host says where they are
        cfg = source.load_config(options.nginx_conf,
                                 host_paths=options.nginx_conf is None or bool(options.host))
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
        facts = source.host_facts(cfg)
        somaxconn = somaxconn or facts.somaxconn
        mem_total = mem_total or facts.mem_total
        nofile = nofile or facts.nofile
        groups = facts.nginx_groups
        notes.extend(LintNote("info", m) for m in facts.notes)
    inp = spec.build(cfg, LintFacts(pools=tuple(pools), header_bytes=options.header_bytes,
                                    backend_timeout=options.backend_timeout,
                                    backend_keepalive=options.backend_keepalive, somaxconn=somaxconn,
                                    mem_total=mem_total, nofile=nofile, groups=groups,
                                    concurrency=options.concurrency))
    findings = run_lint(inp, only, ignore=ignore, inline=options.inline_ignores, enable=enable)
    inputs = {
        "nginx_conf": options.nginx_conf or cfg.source, "proxy": proxy.name, "files": cfg.files,
        "fpm_pools": [f"{p.name} ({p.file})" for p in pools], "host_facts": use_host,
        "somaxconn": somaxconn, "mem_total": mem_total, "nofile": nofile,
        "header_bytes": options.header_bytes, "backend_timeout": options.backend_timeout,
        "backend_keepalive": options.backend_keepalive,
    }
    if options.concurrency is not None:
        inputs["concurrency"] = options.concurrency
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
