"""What ``why502 diagnose`` was asked to read, and the rule for inputs the user named.

A file named with a flag (``--nginx-conf``, ``--error-log``, ``--access-log``, ``--fpm-conf``,
``--fpm-log``, ``--kernel-log``, ``--app-log``, ``--app-conf``) that is missing or unreadable is an
``InputError`` (exit 3: the user asked for it, and going on without it could print a false
"healthy"); anything found by discovery (logs named by the config, rotated siblings, FPM pools
under /etc/php, dmesg/journal, /proc) that cannot be read becomes a ``Diagnostic``; "nothing at
all to read" is an ``InputError`` too.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from datetime import datetime

from why502.app.stats.sniff import sniffed_log_types
from why502.errors import InputError
from why502.proxies import DEFAULT, DEFAULT_FLAG, found_on_host, of
from why502.sources.opening import readable


@dataclass
class DiagnoseOptions:
    """Command-line choices of ``why502 diagnose`` (all optional: discovery fills the rest)."""

    default_proxy_config: str | None = None
    # ``--config FILE`` (nginx, Apache or HAProxy, detected from the content) and ``--proxy``
    config: str | None = None
    proxy: str | None = None
    error_logs: list[str] = field(default_factory=list)
    access_logs: list[str] = field(default_factory=list)
    fpm_conf: str | None = None
    fpm_logs: list[str] = field(default_factory=list)
    kernel_log: str | None = None
    # other programs' logs classified like the FPM log: app servers, supervisord (restarts)
    app_logs: list[str] = field(default_factory=list)
    # ``--app-conf``: app servers' configs (gunicorn.conf.py, uWSGI ini, puma.rb, a Node script)
    app_confs: list[str] = field(default_factory=list)
    since: str | None = None
    offline: bool = False
    demo: bool = False
    probe_timeout: float = 2.0
    now: datetime | None = None  # for tests / recorded incidents: "now" for --since
    # access logs of a cloud load balancer / proxy (alb, cloudflare, envoy, ...); None: detect
    log_type: str | None = None
    # ``--discover``: read this host's proxy and PHP-FPM config even when only logs are named
    discover: bool = False
    # what discovery knows of the running master (sources.proxyprocs): nginx's -p (relative log
    # paths are relative to it), its systemd unit (what a reload must name), its container
    prefix: str | None = None
    unit: str | None = None
    container: str | None = None
    # the running master's root as the kernel shows it (``/proc/PID/root``) when it runs in
    # another mount namespace (a container): its config's absolute includes and the logs it
    # names are read under it, never this host's files of the same name
    root: str | None = None
    # ``--k8s PATH``: a ``kubectl get ... -o json`` dump (a file or a folder), or ``kubectl`` to
    # ask the cluster (read-only, only when named); ``--k8s-namespace`` narrows ``kubectl``
    k8s: str | None = None
    k8s_namespace: str | None = None
    # ``--admin-api URL``: the proxy's admin API (Envoy's: /clusters, /stats, /config_dump), asked
    # as named; unnamed, the config's admin address is asked when it is on loopback
    admin_api: str | None = None

    def logs_only(self) -> bool:
        """Were only logs named (no config, no ``--proxy``, no ``--discover``)?

        Then nothing of this host's configuration is read -- no ``nginx -T``, no
        /etc/nginx/nginx.conf, no packaged HAProxy/Apache config, no PHP-FPM pools found under
        /etc: the logs may come from another machine (a ticket, a CI artefact, a load
        balancer), and this host's config made their reading wrong (its ``log_format`` judged a
        foreign log, "the config proxies to nothing" was said of a config nobody asked about).
        """
        named_logs = bool(self.error_logs or self.k8s or self.access_logs or self.fpm_logs or self.app_logs
                          or self.kernel_log)
        return named_logs and not (self.default_proxy_config or self.config or self.proxy or self.discover
                                   or self.demo)

    def named(self, kind: str) -> bool:
        """Were the logs of ``kind`` (``error_logs``, ``fpm_logs``, ``app_logs``) named by the
        user (strict) rather than discovered (notes)?  ``--app-log`` is the only source of
        app logs."""
        return {"error_logs": bool(self.error_logs), "fpm_logs": bool(self.fpm_logs),
                "app_logs": True}[kind]


def unreadable(path: str) -> str | None:
    """Why ``path`` cannot be read (``No such file or directory``, ``Permission denied``), or None.

    Opened for real (``os.access`` answers for the real uid and ignores ACLs/LSMs), except a
    FIFO or a device, which is never opened by a probe (``sources.opening.readable``: closing a
    FIFO's read end would kill its writer); a directory must be listable (``--fpm-conf`` takes one).
    """
    return readable(path)


def check_named_inputs(options: DiagnoseOptions) -> None:
    """Every file named with a flag must be readable: else one-line ``InputError`` (exit 3).

    The user asked for these; diagnosing without one could print a false "healthy".  Files
    found by discovery are checked where they are read and become notes instead.
    """
    named = [(DEFAULT_FLAG, options.default_proxy_config), ("--config", options.config),
             ("--fpm-conf", options.fpm_conf),
             ("--kernel-log", options.kernel_log),
             *(("--error-log", p) for p in options.error_logs),
             *(("--access-log", p) for p in options.access_logs),
             *(("--fpm-log", p) for p in options.fpm_logs),
             *(("--app-log", p) for p in options.app_logs),
             *(("--app-conf", p) for p in options.app_confs),
             ("--k8s", options.k8s if options.k8s != "kubectl" else None)]
    stdin = [flag for flag, path in named if path == "-"]
    if len(stdin) > 1:  # stdin is read once: a second reader would get nothing, or the first one's rest
        raise InputError(f"- (stdin) is named by {' and '.join(stdin)}: it can be read by one of them only; "
                         "save the other log to a file")
    for flag, path in named:
        if path and path != "-" and (why := unreadable(path) or _folder_refused(flag, path, options)):
            raise InputError(f"cannot read {path} ({flag}): {why}")


def _folder_refused(flag: str, path: str, options: DiagnoseOptions) -> str | None:
    """Why a directory named with ``flag`` holds nothing that flag reads, or None (not a
    directory, or one that does).

    Only two flags read a folder: ``--access-log`` a load balancer's log tree (AWS writes one
    ``.log.gz`` per node and five minutes; ``app.stats.lb``) and ``--fpm-conf`` a pool directory
    (its ``*.conf``, ``sources.fpm``).  A folder that holds none of what its flag reads was a
    warning under a "healthy" answer (exit 0): the user's input was not read at all.
    """
    if not os.path.isdir(path):
        return None
    if flag == "--fpm-conf":
        return None if glob.glob(os.path.join(glob.escape(path), "*.conf")) else (
            "a directory with no *.conf file (name php-fpm.conf, or the folder of its pools)")
    if flag == "--access-log":
        forced = options.log_type not in (None, "auto", DEFAULT)
        if forced or sniffed_log_types([path]):
            return None
        return ("a directory, and no file in it is a load balancer's log (a folder is read whole only "
                "as ALB/ELB/Cloudflare/... logs: name an access log of "
                f"{of(DEFAULT).vocabulary.title} as a file)")
    if flag in ("--kernel-log", "--error-log", "--fpm-log", "--app-log"):
        return "is a directory, not a log"
    return None


def nothing_to_read(options: DiagnoseOptions) -> InputError:
    """The one-line error when no config and no log could be read at all."""
    if options.k8s and not (options.error_logs or options.access_logs or options.default_proxy_config
                            or options.config):
        return InputError("--k8s needs the proxy's log to tie the objects to: pass --error-log "
                          "(ingress-nginx: kubectl logs deploy/ingress-nginx-controller > FILE) "
                          "and/or --access-log")
    own = of(DEFAULT).vocabulary
    if options.default_proxy_config:
        return InputError(f"cannot read {own.title} config {options.default_proxy_config}")
    if found_on_host(DEFAULT) == (None, None):
        return InputError(f"nothing to diagnose: {own.title} is not installed and {own.default_config} "
                          f"does not exist (pass {DEFAULT_FLAG} FILE and/or --error-log FILE, or try "
                          "--demo)")
    return InputError(f"nothing to diagnose: no readable {own.title} config or log (pass "
                      f"{DEFAULT_FLAG}/--error-log; run as root to read "
                      f"{os.path.dirname(own.default_config)} and {os.path.dirname(own.default_error_log)})")
