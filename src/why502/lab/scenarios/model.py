"""What a lab scenario is, what its run leaves behind, and the ``@scenario`` decorator.

A scenario is one function that configures a :class:`~why502.lab.runtime.Stack`, provokes the
failure with a few real requests (bounded in count and time: timeouts of about one second) and
notes what it did in a :class:`ScenarioRun`.  ``@scenario(...)`` next to the function declares
what it reproduces, with keyword arguments only (``needs``, ``lab`` and ``proxy`` have
defaults)::

    @scenario(name="...", cause="<catalog cause id>", title="...", description="...",
              symptoms=("<catalog symptom or event id>", ...),
              expect=(("error", r"<regex nginx really logs>"), ...), needs=("php-fpm",))
    def _my_failure(stack: Stack, run: ScenarioRun) -> None:
        app = stack.add_backend(...)
        stack.start_nginx(...)
        run.record("GET /", stack.requests("/", count=3))

The declaration is checked when the module is imported (a misspelt ``needs`` would otherwise
silently skip a requirement check), and :mod:`why502.lab.scenarios.registry` collects the
declarations of every family module.  New fields get a default, so existing declarations never
change when one is added.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from why502.lab.runtime import LabSkip, Response, Stack, machine
from why502.lab.runtime.plugins import lab_plugin
from why502.proxies import PROXIES as REGISTRY

if TYPE_CHECKING:
    from why502.app.diagnose import DiagnoseOptions

# The reverse proxies a scenario can put in front of its backends (``proxy=``): the registry's
# (one whose ``Hooks.lab_runtime`` is "" has no scenario yet).
PROXIES = tuple(REGISTRY)
# What a scenario may need from the machine (``needs=``); checked by Scenario.check_requirements.
# "openssl" is checked when the certificate is made (runtime.tls).
NEEDS = ("root", "php-fpm", "node", "ipv6", "netns", "cgroup", "supervisord", "openssl")
# The logs ``expect`` patterns are matched against (see Scenario.unmet).
LOGS = ("error", "access", "fpm", "kernel", "app")
# The proxies whose scenario sets its own evidence paths (config, logs) in the ScenarioRun and
# whose access log is passed to diagnose; their runtimes are their ``Hooks.lab_runtime``.
EDGE = ("envoy", "caddy")


@dataclass
class ScenarioRun:
    """What a scenario did and where its evidence is (paths inside the stack's temp dir)."""

    steps: list[str] = field(default_factory=list)
    responses: list[tuple[str, int | None]] = field(default_factory=list)
    nginx_conf: Path | None = None
    proxy: str = "nginx"  # the proxy in front: nginx | haproxy
    config: Path | None = None  # its config when it is not nginx (haproxy.cfg)
    error_log: Path | None = None
    access_log: Path | None = None
    fpm_conf: Path | None = None
    fpm_log: Path | None = None
    # diagnose inputs beyond nginx/PHP-FPM: the kernel log (OOM kills), supervisord's log
    kernel_log: Path | None = None
    app_logs: list[Path] = field(default_factory=list)
    # the moment the scenario's incident ended (ISO, local time like the logs): `diagnose
    # --since` from there must find nothing (a recovered incident)
    since: str | None = None
    # called once at the height of an incident (the demo builder records listeners and probes)
    snapshot_hook: Callable[[Stack], None] | None = None
    # what names the faulty backend (its address, cluster or upstream): the first finding's
    # upstream or target must contain one of them (the Envoy and Caddy scenarios set it)
    culprits: list[str] = field(default_factory=list)
    # app servers' own configs (gunicorn.conf.py, uwsgi.ini): diagnose's --app-conf
    app_confs: list[Path] = field(default_factory=list)

    def record(self, label: str, responses: list[Response]) -> None:
        for resp in responses:
            self.responses.append((label, resp.status))

    def diagnose_options(self, stack: Stack, **overrides: Any) -> DiagnoseOptions:
        """``DiagnoseOptions`` for this run's files (live checks on, 1 s probes).

        The kernel log is the scenario's own (the lines of its OOM kill) or an empty file, never
        the machine's ``dmesg``: that holds the OOM kills of earlier lab runs, which diagnose
        would rightly link to any backend that died in the same minutes.  Run ``diagnose`` inside
        ``stack.inside()`` so a stack in its own network namespace is probed from there.
        """
        from why502.app.diagnose import DiagnoseOptions

        kernel = self.kernel_log or stack.write_file("logs/kernel.log", "")
        if self.proxy != "nginx":
            options = DiagnoseOptions(
                config=str(self.config), proxy=self.proxy,
                error_logs=[str(self.error_log)] if self.error_log else [],
                kernel_log=str(kernel), app_logs=[str(p) for p in self.app_logs],
                offline=False, probe_timeout=1.0)
            if self.app_confs:
                options.app_confs = [str(p) for p in self.app_confs]
            if self.proxy in EDGE:
                # Envoy's evidence is its access log (the response flags); Caddy's is its own log
                # (the Go error and the upstream) and its access log (the 5xx the app sent, which
                # Caddy relays without an error line), read with the Caddyfile as
                # docs/proxies/caddy.md says: the access log's findings are tied to the upstream
                # of the route the request matched (analyzers.edge_config)
                access = self.access_log
                options.access_logs = [str(access)] if access else []
                options.fpm_conf = str(self.fpm_conf) if self.fpm_conf else None
                options.fpm_logs = [str(self.fpm_log)] if self.fpm_log else []
            for key, value in overrides.items():
                setattr(options, key, value)
            return options
        options = DiagnoseOptions(
            default_proxy_config=str(self.nginx_conf), error_logs=[str(self.error_log)],
            access_logs=[str(self.access_log)],
            fpm_conf=str(self.fpm_conf) if self.fpm_conf else None,
            fpm_logs=[str(self.fpm_log)] if self.fpm_log else [],
            kernel_log=str(kernel), app_logs=[str(p) for p in self.app_logs],
            offline=False, probe_timeout=1.0)
        for key, value in overrides.items():
            setattr(options, key, value)
        return options


def diagnose_argv(run: ScenarioRun, stack: Stack) -> list[str]:
    """The ``why502 diagnose`` arguments a user would type for this run's files (the same
    inputs as :meth:`ScenarioRun.diagnose_options`): the lab's answers are scored through the
    CLI with them (tests/lab/test_edge_lab_live.py)."""
    options = run.diagnose_options(stack)
    argv = ["--config", options.config or "", "--proxy", run.proxy]
    argv += [a for p in options.error_logs for a in ("--error-log", p)]
    argv += [a for p in options.access_logs for a in ("--access-log", p)]
    argv += [a for p in options.app_logs for a in ("--app-log", p)]
    argv += [a for p in options.app_confs for a in ("--app-conf", p)]
    if options.fpm_conf:
        argv += ["--fpm-conf", options.fpm_conf]
    argv += [a for p in options.fpm_logs for a in ("--fpm-log", p)]
    if options.kernel_log:
        argv += ["--kernel-log", options.kernel_log]
    return argv


ScenarioFunc = Callable[[Stack, ScenarioRun], None]


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One reproducible failure.  ``cause`` is the root cause diagnose must rank first.

    ``expect`` lists (log, regular expression) pairs that must match the named log after ``run``
    (log: error|access|fpm|kernel|app): that proves a scenario really produced its symptoms,
    independently of ``diagnose``.  ``lab=False`` marks a recording-only recipe: it captures real
    messages for the fixtures but ``why502 lab`` does not offer it.
    """

    name: str
    cause: str | None
    title: str
    description: str
    symptoms: tuple[str, ...]
    expect: tuple[tuple[str, str], ...]
    func: ScenarioFunc
    needs: tuple[str, ...] = ()
    lab: bool = True
    proxy: str = "nginx"

    def check_requirements(self) -> None:
        """Raise LabSkip with a clear message when this machine cannot run the scenario."""
        missing: str | None = lab_plugin(self.proxy).unavailable()  # its program, installed?
        if missing:
            raise LabSkip(missing)
        if "root" in self.needs and not machine.is_root():
            raise LabSkip(f"{self.name} needs root: nginx's workers must run as an unprivileged "
                          "user that the socket does not admit")
        if "php-fpm" in self.needs and machine.find_php_fpm() is None:
            raise LabSkip(f"{self.name} needs php-fpm (apt-get install php-fpm)")
        if "node" in self.needs and shutil.which("node") is None:
            raise LabSkip(f"{self.name} is optional and needs node (Node.js), not installed here")
        if "ipv6" in self.needs and not machine.ipv6_loopback_available():
            raise LabSkip(f"{self.name} needs IPv6 on the loopback interface (::1)")
        if "netns" in self.needs and (why := machine.netns_unavailable()):
            raise LabSkip(f"{self.name} runs in its own network namespaces and {why}")
        if "cgroup" in self.needs and not machine.is_root():
            raise LabSkip(f"{self.name} needs root: it puts the backend in its own memory cgroup")
        if "supervisord" in self.needs and shutil.which("supervisord") is None:
            raise LabSkip(f"{self.name} needs supervisord (apt-get install supervisor)")

    def run(self, stack: Stack, snapshot_hook: Callable[[Stack], None] | None = None,
            noisy: bool = False) -> ScenarioRun:
        """Configure, provoke, and return where the evidence is.

        ``noisy`` lays a real host's baseline over the run (``why502.lab.noise``: other jobs'
        OOM kills and segfaults, an old incident in the rotated error log, client noise); the
        expected cause must not change.

        A scenario that runs in network namespaces leaves ``stack.netns`` set: diagnose the live
        stack inside it (``with stack.inside(): ...``) so probes reach what nginx reaches.
        """
        self.check_requirements()
        result = ScenarioRun(snapshot_hook=snapshot_hook)
        self.func(stack, result)
        time.sleep(0.3)  # nginx writes the access-log line after the response went out
        paths = stack.p
        result.proxy = self.proxy
        if self.proxy == "haproxy":
            result.config, result.error_log, _sock = lab_plugin("haproxy").haproxy_paths(stack)
        elif self.proxy == "apache":
            result.config, result.error_log, result.access_log = lab_plugin("apache").apache_paths(stack)
        elif self.proxy in EDGE:
            pass  # the scenario set config, error_log and access_log
        else:
            result.nginx_conf = paths.nginx_conf
            result.error_log = paths.error_log
            result.access_log = paths.access_log
        if paths.fpm_conf.exists():
            result.fpm_conf = paths.fpm_conf
        if paths.fpm_log.exists():
            result.fpm_log = paths.fpm_log
        if noisy:
            from why502.lab.noise import add_noise

            add_noise(stack, result)
            time.sleep(0.2)  # the access-log line of the noise request
        return result

    def unmet(self, run: ScenarioRun) -> list[str]:
        """The ``expect`` patterns that do not match the logs of ``run`` (empty: all produced)."""
        logs = {"error": run.error_log, "access": run.access_log, "fpm": run.fpm_log,
                "kernel": run.kernel_log, "app": run.app_logs[0] if run.app_logs else None}
        missing = []
        for log, pattern in self.expect:
            path = logs.get(log)
            text = path.read_text(errors="replace") if path is not None and path.exists() else ""
            if not re.search(pattern, text):
                missing.append(f"{log}: {pattern}")
        return missing


# module name -> the scenarios declared in it, in the order of the module
_DECLARED: dict[str, list[Scenario]] = {}


def scenario(*, name: str, cause: str | None, title: str, description: str,
             symptoms: tuple[str, ...], expect: tuple[tuple[str, str], ...],
             needs: tuple[str, ...] = (), lab: bool = True,
             proxy: str = "nginx") -> Callable[[ScenarioFunc], ScenarioFunc]:
    """Declare the decorated function as the scenario ``name`` (see :class:`Scenario`).

    The function is returned unchanged; the declaration is kept per module for
    :func:`declared_in`.  A bad declaration (a name used twice, an unknown ``needs``, log or
    proxy, a pattern that does not compile) raises ``ValueError`` at import.
    """

    def declare(func: ScenarioFunc) -> ScenarioFunc:
        declared = Scenario(name=name, cause=cause, title=title, description=description,
                            symptoms=symptoms, expect=expect, func=func, needs=needs, lab=lab,
                            proxy=proxy)
        _validate(declared)
        _DECLARED.setdefault(func.__module__, []).append(declared)
        return func

    return declare


def declared_in(module: ModuleType) -> list[Scenario]:
    """The scenarios declared in ``module``, in the order of its source."""
    return list(_DECLARED.get(module.__name__, []))


def _validate(new: Scenario) -> None:
    problems = []
    if any(s.name == new.name for declared in _DECLARED.values() for s in declared):
        problems.append("the name is declared twice")
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", new.name):
        problems.append("the name is not lower-case-with-dashes")
    if new.proxy not in PROXIES:
        problems.append(f"unknown proxy {new.proxy!r} (known: {', '.join(PROXIES)})")
    problems += [f"unknown need {need!r} (known: {', '.join(NEEDS)})"
                 for need in new.needs if need not in NEEDS]
    for log, pattern in new.expect:
        if log not in LOGS:
            problems.append(f"expect names an unknown log {log!r} (known: {', '.join(LOGS)})")
        try:
            re.compile(pattern)
        except re.error as err:
            problems.append(f"expect pattern {pattern!r} does not compile: {err}")
    if problems:
        raise ValueError(f"scenario {new.name}: {'; '.join(problems)}")
