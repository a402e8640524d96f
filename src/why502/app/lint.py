"""``why502 lint`` wiring: read the config (and, for this host, FPM pools and limits), run the
checks, hand the report to a reporter (``reporters.text``, ``json``, ``sarif``).

The config may be any proxy's of ``why502.proxies`` (``proxy``, else detected from the content by
the registry's one detector); each runs the rules registered for it, on one path.  What differs
per proxy is its plug-ins': its lint plug-in's ``LintSpec`` (``Hooks.lint_input``: how its input
is built from the config and the facts, what reading said, when a file read is no config of it)
and how its config is read -- by its ``Hooks.load_config`` from a named file, or by its own
reader (``Hooks.lint_config``, nginx's: a dump on stdin, this host's ``-T`` dump, ``--root DIR``,
this host's limits).

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
from why502.findings.lint import LintNote, LintRead, LintReport
from why502.proxies import PROXIES, SCHEMA_1_CONFIG, Proxy, get
from why502.proxies.base import resolve
from why502.textutil import parse_size, strip_terminal_escapes


@dataclass
class LintOptions:
    config: str | None = None
    fpm_conf: list[str] = field(default_factory=list)
    host: bool | None = None  # None: only when config is None
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
    proxy: str | None = None  # a registered proxy's name; None: detected from config's content
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

    return choose(options.proxy, options.config)


def _spec(proxy: Proxy) -> LintSpec:
    """The proxy's lint plug-in's ``LintSpec`` (``Hooks.lint_input``)."""
    spec = resolve(proxy.hooks.lint_input)
    assert isinstance(spec, LintSpec), proxy.hooks.lint_input
    return spec


def _read_named(path: str | None, proxy: Proxy, spec: LintSpec) -> LintRead:
    """The config of a proxy without its own lint reader: the named file, read by its loader
    (``Hooks.load_config``); what reading said and whether it is its config at all are its
    plug-in's (``LintSpec.notes``, ``LintSpec.unreadable``).  Nothing of the host is read."""
    if not path or path == "-":
        raise UsageError(f"lint --proxy {proxy.name} needs the config file (--config FILE)")
    try:
        cfg = resolve(proxy.hooks.load_config)(path)  # type: ignore[operator]
    except OSError as err:
        raise InputError(strip_terminal_escapes(f"{path}: {err.strerror or err}")) from None
    why = spec.unreadable(cfg)
    if why is not None:
        raise InputError(strip_terminal_escapes(f"{path}: {why}").splitlines()[0])
    return LintRead(cfg, spec.notes(cfg), path)


def _read(options: LintOptions, proxy: Proxy, spec: LintSpec, use_host: bool) -> LintRead:
    """The config, by the proxy's own lint reader when it has one (``Hooks.lint_config``: a
    dump on stdin, this host's, ``--root DIR``, and this host's limits with ``use_host``), else
    by :func:`_read_named`."""
    if proxy.hooks.lint_config:
        reader = resolve(proxy.hooks.lint_config)
        return reader(options.config, root=options.root, host=use_host)  # type: ignore[operator,no-any-return]
    if options.root is not None and options.config and options.config != "-":
        # a tree copied from a container is read by a proxy's own reader only
        readers = " or ".join(p.vocabulary.title for p in PROXIES.values() if p.hooks.lint_config)
        raise UsageError(f"--root applies to {readers} configs only")
    return _read_named(options.config, proxy, spec)


def _pools(options: LintOptions, spec: LintSpec, use_host: bool, notes: list[LintNote]) -> list[FpmPool]:
    """The FPM pools, when the proxy's rules read them: ``--fpm-conf`` (each named one readable,
    else exit 3, as for diagnose: going on without it would lint as if no pool existed and
    could say "no findings"), else this host's with ``use_host``."""
    if not spec.pools:
        return []
    if options.fpm_conf:
        for path in options.fpm_conf:
            why = unreadable(path)
            if why is not None:
                raise InputError(f"--fpm-conf {path}: {why}")
        return _pools_from_files(options.fpm_conf, notes)
    return _pools_from_files([], notes) if use_host else []


def gather(options: LintOptions) -> LintOutcome:
    """Read everything lint needs (sources), then run the pure checks: one path for every
    proxy, what differs is its plug-ins' (its ``LintSpec`` and its reader)."""
    only = _codes(options.rules, "--rule") if options.rules else None
    ignore = _codes(options.ignore, "--ignore")
    enable = _codes(options.enable, "--enable")
    proxy = get(proxy_of(options))
    spec = _spec(proxy)
    # host facts only for this host's config (none named) or with --host: a config copied from
    # another machine must not be judged against this machine's somaxconn
    use_host = options.host if options.host is not None else options.config is None
    read = _read(options, proxy, spec, use_host)
    cfg, notes = read.config, read.notes
    pools = _pools(options, spec, use_host, notes)
    somaxconn, mem_total, nofile = options.somaxconn, options.mem_total, options.nofile
    groups: tuple[str, ...] = ()
    if read.host is not None:
        somaxconn = somaxconn or read.host.somaxconn
        mem_total = mem_total or read.host.mem_total
        nofile = nofile or read.host.nofile
        groups = read.host.groups
        notes.extend(LintNote("info", m) for m in read.host.notes)
    facts = LintFacts(pools=tuple(pools), header_bytes=options.header_bytes,
                      backend_timeout=options.backend_timeout,
                      backend_keepalive=options.backend_keepalive, somaxconn=somaxconn,
                      mem_total=mem_total, nofile=nofile, groups=groups,
                      concurrency=options.concurrency)
    findings = run_lint(spec.build(cfg, facts), only, ignore=ignore, inline=options.inline_ignores,
                        enable=enable)
    inputs: dict[str, Any] = {
        SCHEMA_1_CONFIG: options.config or read.source, "proxy": proxy.name,
        "files": list(cfg.files), "fpm_pools": [f"{p.name} ({p.file})" for p in pools],
        "host_facts": use_host and spec.echo_host,
    }
    inputs.update((name, getattr(facts, name)) for name in spec.inputs)
    inputs.update((name, value) for name in spec.optional_inputs
                  if (value := getattr(facts, name)) is not None)
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
