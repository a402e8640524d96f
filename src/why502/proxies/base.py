"""The one interface through which the rest of why502 learns about a reverse proxy.

Every proxy why502 reads as a full proxy (nginx, Apache httpd, HAProxy) is one folder under
``why502/proxies/`` whose ``proxy.py`` defines one object satisfying :class:`Proxy`, registered
once in ``why502.proxies.PROXIES``.  Analyzers and reporters never compare a proxy's name with a
literal: they ask the registry for the proxy and read what it declares —

- its **vocabulary** (:class:`Vocabulary`): what the report calls it, what a route, a group and a
  response timeout are called in its config, the timeout's default, its config-test and reload
  commands, its default config and error-log paths;
- its **capabilities** (:class:`Capability`) as data: what it can or cannot do is a member of a
  frozenset, not an ``if proxy == ...`` elsewhere;
- **detection**: a score for a config's text (:meth:`Proxy.detect`, run on the text with quoted
  strings and comments masked by :func:`mask`, so JSON in a ``log-format`` or ``LogFormat`` is
  not read as nginx braces), the ``include`` lines to follow when the text alone does not say,
  and the program names of its master process (``sources.proxyprocs``);
- **hooks**: the modules of higher layers that serve it (config loader, lint rules, ``fix``
  service, lab runtime), named as dotted paths (:class:`Hooks`) so that this package stays below
  ``sources``, ``evidence`` and ``app`` in the layer order (``pyproject.toml``) and the caller
  that needs them imports them (:func:`resolve`);
- the proxy-specific steps of a diagnosis that are not words: which setting is its response
  timeout, how to read its value, the diff that raises it.

This module is I/O-free and imports nothing heavy: ``why502 --help`` reads the registry.
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from why502.facts.setting import Setting


class Capability(str, enum.Enum):
    """What a proxy can do, as data (``Proxy.capabilities``)."""

    #: servers are marked failed/down in the config itself (nginx's ``down``, ``max_fails``/
    #: ``fail_timeout`` on a ``server`` line: ngx_http_upstream_module), so "every server is
    #: down" can be read from the config and "they answer again but are still refused" is a
    #: config defect.
    CONFIG_SERVER_MARKS = "config-server-marks"
    #: active health checks and a runtime API with each server's state (HAProxy's ``check`` and
    #: ``show stat``, management.txt 9.3): "all servers down" is read from the states and the
    #: checks, a server down now is its own finding.
    HEALTH_CHECKED_SERVERS = "health-checked-servers"
    #: the catalog's titles and explanations are written in this proxy's words (nginx's): the
    #: others reword them (:meth:`Proxy.reword`).
    CATALOG_WORDING = "catalog-wording"
    #: a config may be read from a dump the program prints (``nginx -T``, ``apachectl -S`` /
    #: ``-D DUMP_INCLUDES``).
    CONFIG_DUMP = "config-dump"
    #: ``lint`` reads this host's config and limits along with it (its ``Hooks.lint_config``:
    #: no config named, a dump on stdin, ``--root DIR``, ``--host``).
    LINT_HOST_FACTS = "lint-host-facts"
    #: ``watch`` follows this proxy's logs (its error log, access log or both: ``app.watch``).
    WATCH = "watch"
    #: its error lines name the upstream as the config's identity key (``host:port``), without
    #: nginx's scheme (Caddy's ``dial tcp 127.0.0.1:9000: ...``): the aggregator takes it as
    #: written (``evidence.aggregate``).
    PEER_AS_WRITTEN = "peer-as-written"
    #: its running server is found as an edge process (``sources.proxyprocs.running_edges``: its
    #: ``--config`` and the log files it names), not as a master whose command line
    #: ``proxyprocs.describe`` reads (nginx's ``-c``, Apache's ``-f``/``-d``, HAProxy's ``-f``).
    EDGE_PROCESS = "edge-process"
    #: its config names no log file: it logs through syslog (HAProxy's ``log`` lines,
    #: configuration.txt 3.1), which the package's syslog rule writes to the vocabulary's
    #: ``default_error_log`` (Debian's /var/log/haproxy.log, its rsyslog.d/49-haproxy.conf):
    #: discovery reads that file, under a container's root for a master that runs in one.
    LOGS_THROUGH_SYSLOG = "logs-through-syslog"
    #: its logs are the shape why502's log engines are written for: its error line is cut into
    #: parts (``parsers.errorlog``: key phrase, errno, action, ``upstream: "scheme://peer"``; the
    #: catalog's ``[families]`` ``phrase``) and its access-log fields are the statistics engine's
    #: columns (``evidence.stats``: ``$upstream_addr``, ``$upstream_status``, ...), so the
    #: engines' word for "the proxy made this 5xx" is its name (``proxies.ENGINE``).  One proxy.
    ENGINE_LOGS = "engine-logs"
    #: its error lines name a unix socket by its bare path (Apache's ``AH02454: FCGI: attempt to
    #: connect to Unix domain socket /run/php/php-fpm.sock (localhost:8000) failed``,
    #: proxy_util.c ``ap_proxy_connect_backend()``): the aggregator writes it ``unix:PATH``,
    #: as the config's identity key (``evidence.aggregate``; a host:port is taken as written).
    PEER_SOCKET_PATH = "peer-socket-path"
    #: its transport keeps idle upstream connections and reuses them unless the config says
    #: otherwise (Caddy's ``transport http``: "Configures HTTP Keep-Alive (enabled by default)",
    #: reverseproxy/httptransport.go): a group's ``keepalive`` facts are its defaults and need no
    #: opt-in (nginx's ``proxy_http_version 1.1`` and empty ``Connection``) to work.
    KEEPALIVE_BY_DEFAULT = "keepalive-by-default"


@dataclass(frozen=True)
class Vocabulary:
    """The proxy's words, as a report says them and as its config spells them."""

    title: str  # in a report's sentences: "nginx", "HAProxy", "Apache"
    long_title: str  # in a heading: "nginx", "HAProxy", "Apache httpd"
    route: str  # what picks the group for a request: "location", "backend"
    group: str  # a set of servers: "upstream", "backend", "balancer"
    response_timeout: str  # the timer that gives up on a slow response header
    timeout_default: str  # how the report shows that timer unset ("60s", "infinite")
    timeout_state: str  # what the access log says when it fired (" (termination state sH)")
    config_test: str  # "{config}" is the main config file
    reload: str
    default_config: str
    default_error_log: str
    # ``why502 stats``' text: the proxy that made a 5xx (``made_by``), its timer, the table of
    # groups (the engine reads every access log in nginx's fields: proxies.<name>.stats)
    stats_word: str = ""
    stats_target: str = "upstream"  # a column: the address attempts went to
    stats_timeout: str = "read timeout"
    stats_timeout_column: str = "timeout"
    # what in its access log says the backend sent a 5xx itself (the proxy relayed it)
    relayed_5xx: str = "carry a numeric $upstream_header_time (the backend sent them)"
    stats_groups: str = ("Upstreams (per attempt; p50..max of $upstream_header_time, or of "
                         "$upstream_response_time where no header ever came)")
    # how long an idle upstream connection is kept for reuse, as the config spells it, and how
    # many are kept (the keep-alive race: analyzers.config_limits)
    keepalive_timeout: str = "keepalive_timeout"
    keepalive_pool: str = "idle connections per worker"
    # The fixes' words (issue 23): each proxy's own names for what a finding tells the user to
    # change, so a HAProxy, Apache or Caddy diagnosis never names nginx's directives; "" where
    # the proxy has none, and the finding says it in general words (``analyzers``).
    #: what makes it send the backend's name in the TLS handshake (SNI)
    tls_server_name: str = ""
    #: the name it sends and checks the certificate against, when not the address's
    tls_name: str = ""
    #: upstream certificate verification turned on
    tls_verify: str = ""
    #: where the CA that upstream certificates are checked against is set
    tls_trusted_ca: str = ""
    #: the failed attempts after which a server is taken out, and for how long (passive checks)
    failure_count: str = ""
    failure_window: str = ""
    #: its words when no server is left to try ("'no live upstreams'")
    no_server_answer: str = ""
    #: "every server failed" when servers are not marked in the config (no
    #: ``CONFIG_SERVER_MARKS``): a sentence with ``{name}`` (the group) that says the proxy's rule
    all_failed: str = ""
    #: what makes it reuse upstream connections (every request on a new one: port exhaustion)
    reuse_connections: str = ""
    #: what a route needs for a group's idle connections to be reused, when the proxy does not
    #: by default: ``(target kind, setting, value wanted, statement to add, ReuseConnections
    #: field)`` each (nginx: HTTP/1.1 and an empty Connection header, ngx_http_upstream_module
    #: ``keepalive``); and why, and the fix in words
    reuse_requires: tuple[tuple[str, str, str, str, str], ...] = ()
    reuse_off_by_default: str = ""
    reuse_fix: str = ""
    # Its own names of the commands' neutral options and inputs (issue 23: declared here, not
    # spelled in cli/ or app/; "" where it has none): the older flag kept as an alias of
    # ``--config`` ("--nginx-conf": only this proxy's config, ``proxies.choose``), of
    # ``--proxy-binary`` ("--nginx"), and ``lint``'s positional config (its metavar, "NGINX_CONF")
    config_flag: str = ""
    binary_flag: str = ""
    config_argument: str = ""
    #: the command that prints its whole config as it reads it, includes inlined (``nginx -T``:
    #: nginx(8) ``-T``): a report says its config was read so (``inputs.<key>_source``), and a
    #: command a finding prints greps it (``analyzers.base.config_grep``); "": none, such a
    #: command greps the config file itself
    config_dump: str = ""
    #: the ``WHY502_*`` variables it reads (the lab's binary of it: ``lab.runtime.machine.
    #: find_program``), each with its line of ``why502 --help`` (``why502.envvars``)
    environment: tuple[tuple[str, str], ...] = ()
    #: regexes of the commands ``fix --apply`` runs itself for it (its config test and reload, in
    #: every spelling a finding prints them): a plan does not list them as commands to run
    #: (``app.fix.plan``)
    applied_commands: tuple[str, ...] = ()
    #: what ``kubectl logs`` reads its logs from when it runs on Kubernetes as a packaged
    #: controller (ingress-nginx's ``deploy/ingress-nginx-controller``); "": none
    k8s_logs: str = ""
    #: its admin API's usual address, read by diagnose's ``--admin-api`` (Envoy's
    #: ``http://127.0.0.1:9901``), and its own older name of that flag ("--envoy-admin"); ""
    admin_api: str = ""
    admin_flag: str = ""
    #: what ``why502 lint`` checks in its config, for ``lint --help`` (its rules: ``lint --list-rules``;
    #: a proxy other than the default one's starts with how its config is named), and the flags of
    #: the help's example for it
    lint_help: str = ""
    lint_example: str = ""
    #: for ``fix --help`` and ``mitigate --help``: how its fix service tests a config and reloads
    #: it (``proxies.<name>.fix``), how ``mitigate`` takes a server out and falls back
    #: (``proxies.<name>.mitigate``); "": not said
    fix_test: str = ""
    fix_reload: str = ""
    take_out_help: str = ""
    fallback_help: str = ""
    #: what caps the requests it keeps in flight to a group, checked by ``lint --concurrency``
    #: (Envoy's circuit breakers, W502-040); "": none checked
    concurrency_limit: str = ""
    # Issue 23 item 2: the words analyzers, evidence and reporters said as nginx's, now each
    # proxy's own ("" where it has none; the sentence then says it in general words).
    #: its packaged systemd unit, where ``LimitNOFILE=`` of its workers is set (``nginx.service``)
    service: str = ""
    #: the length its error lines are cut at, in words (nginx: ``NGX_MAX_ERROR_STR``, 2048
    #: bytes, src/core/ngx_log.h), so a line that long lost its last fields; "": not known
    error_line_cut: str = ""
    #: where its own log says why it made a 5xx when its access log does not (Caddy: "the
    #: http.log.error lines"), for ``stats`` on its access log alone; "": nothing to add
    error_lines: str = ""
    #: the source of ``stats``' table of its servers' states now (HAProxy: its runtime API's
    #: ``show servers state``, management.txt 9.3); "": it has none
    runtime_servers: str = ""
    #: the access log its packages write when the config names none (nginx's compiled-in
    #: ``--http-log-path``), beside ``default_error_log``; "": none (``app.diagnose.inputs``)
    default_access_log: str = ""
    #: an edge server's access log to a file, in its config's words: the statement that writes
    #: one and what to add when there is none (Caddy's ``log { output file ... }``), for
    #: discovery's message when none can be read (``app.diagnose.discover``)
    access_log_statement: str = ""
    access_log_to_file: str = ""
    #: the seconds ``stats --lb-timeout`` takes by default for its log family: the timer its access
    #: log's durations are compared with (Envoy's route timeout, 15 s), as its family declares it
    #: (``LogFamily.default_timeout``) and the help says it; None: its family declares none
    lb_timeout: float | None = None


@dataclass(frozen=True)
class Hooks:
    """Dotted paths (``module:attribute``) of the code of higher layers that serves the proxy.

    Named, not imported, so that ``why502.proxies`` stays below ``sources`` and ``app``; the
    caller resolves the one it needs with :func:`resolve`."""

    load_config: str  # sources/app: read the config (file, dump, stdin) into the proxy's model
    lint_rules: str  # its lint plug-in (proxies/<name>/lint.py), whose @rule checks read its config
    fix_service: str  # its fix.py: config test, reload, master (app.fix.service.ProxyService); "": none
    lab_runtime: str  # lab.runtime: start it on loopback in a temp dir
    # "" for each below: the proxy does not have it (the callers' own path, or not offered)
    #: app.diagnose: ``(options, diags, inputs) -> ProxyView | None``, its config in the cause
    #: model (``proxies.<name>.diagnose``; None: no config read, a note says why); "": with
    #: ``config_facts`` set, ``app.diagnose.proxies.read_with_hooks``
    diagnose_view: str = ""
    #: app.lint: its lint plug-in's ``analyzers.lint.LintSpec`` (how the input of its @rule
    #: checks is built from its config and the facts gathered)
    lint_input: str = ""
    # evidence: the loaded config as proxy-neutral facts, ``(targets, groups, files, listens,
    # notes)``; diagnose reads a config through it (``app.diagnose.proxies.read_with_hooks``).
    # None: the proxy's config is read by its ``diagnose_view`` (nginx, Apache, HAProxy)
    config_facts: str | None = None
    #: app.diagnose: ``(access_logs, error_logs, config) -> app.stats.read.FramedLog``: the
    #: files to read as this proxy's access log (``paths``; empty: none) and its stats plug-in's
    #: reader of their lines straight into the statistics engine's columns (``frames``, in the
    #: engine's ``log_format``): each file read once, no rewritten copy (None: the engine reads
    #: the proxy's own format, nginx's, by path)
    access_log: str | None = None
    #: app.diagnose: ``(config, since) -> feed`` whose ``feed(batch)`` takes each batch of the
    #: error logs as they are classified, aggregating its access-log lines as the engine's
    #: columns, and whose ``log()`` (``app.stats.run.FedLog``) then stands for ``access_log``
    #: when no access log is named: a proxy with one log (HAProxy) has it read once, not twice
    access_feed: str | None = None
    #: proxies.process: ``(argv, cwd, default_config) -> MasterArgs``, what its running master's
    #: command line says of its config (``sources.proxyprocs``); "": not found as a master
    master_args: str = ""
    #: app.mitigate: its ``Stopgaps`` (server groups, take-out, fallback, timeout raise, runtime
    #: API); "": ``why502 mitigate`` does not drive it
    mitigate: str = ""
    #: parsers.lblogs: its access/error log read as an edge's (``parsers.lblogs.family.LogFamily``,
    #: in its folder: ``proxies/<name>/log.py``); the registry gathers them
    #: (``proxies.logfamilies``) so the shared readers name no proxy.  "": none
    log_family: str = ""
    #: sources: the module of its ``source`` plug-in (``proxies.<name>.source``): its config read
    #: once per run (``sources.once``), its runtime or admin API; "" when it has none
    source: str = ""
    #: evidence: the module of its ``facts`` plug-in (``proxies.<name>.facts``): its config as
    #: targets, groups and the aliases its logs name peers by (for a proxy read through
    #: ``config_facts``: its optional ``peer_aliases(targets) -> {name in a log line: target
    #: key}``, ``app.diagnose.proxies.peer_aliases``); "" when it has none
    facts: str = ""
    #: app.watch: ``(config, path) -> (rewrite, log_format)``: ``rewrite(line)`` gives one
    #: line of this proxy's access log at ``path`` as a line in nginx ``log_format`` (None: a
    #: line that is no request), so ``watch`` counts its requests with the meanings
    #: ``access_log`` gives diagnose (None: the access log is nginx's own format).  ``rewrite`` None and
    #: a counter of blocks (``app.watch.traffic.BlockCounter``) in place of the format: the
    #: proxy's lines are counted as they are, a block at a time (HAProxy)
    watch_access: str | None = None
    #: app.diagnose: ``(first lines) -> bool``: are these the first lines of this proxy's own
    #: access log (a format that is not nginx's)?  A run given only logs (no ``--proxy``, no
    #: config) is then this proxy's, instead of the default's reading nothing and saying
    #: "healthy" (issue 24 item 5: HAProxy's httplog).  "": its access log is nginx's format
    access_sniff: str = ""
    #: app.diagnose: ``(first lines) -> bool``: are these the first lines of this proxy's own
    #: error log?  A run given only logs, none of them an access log ``access_sniff`` knows, is
    #: then this proxy's: Apache's error log read as nginx's gave nginx's words and nginx's fix
    #: (``proxy_read_timeout``, ``nginx -t``) for an Apache host.  "": its error log is nginx's
    error_sniff: str = ""
    #: app.fix: ``(config) -> str | None``: a sentence when the config read is owned by a control
    #: plane (an xDS-managed Envoy: ``proxies.envoy.xds``), so ``fix`` prints its lint findings'
    #: changes in the control plane's terms and refuses ``--apply``; "": never managed
    managed: str = ""
    #: analyzers: the module of its config edits as unified diffs (``proxies.<name>.edit`` or
    #: ``.config.edit``) whose ``RENDERERS`` maps each intent of ``facts.edits`` it can write in
    #: its grammar to the function that writes it: what a diagnosis's ``Fix.diff`` is written
    #: with (``proxies.render_edit``), so an analyzer names no proxy's statement and imports no
    #: proxy's folder.  "": its config has no such edits (every fix is said in words)
    edits: str = ""
    #: app.lint: ``(path, *, root, host) -> findings.lint.LintRead``: its config read as ``lint``
    #: reads this host's (no path: the running program's own dump; ``-``: a dump on stdin;
    #: ``root``: a copied tree), with this host's limits when ``host`` (``proxies.<name>.source``;
    #: ``Capability.LINT_HOST_FACTS``).  "": ``load_config`` reads a named file, nothing of the host
    lint_config: str = ""
    #: app.stats: the module of its ``stats`` plug-in (``proxies.<name>.stats``): what the
    #: statistics engine needs of it beyond the lines (nginx: its locations as a
    #: ``facts.routes.RouteModel`` and read timeouts; HAProxy, Apache: their access-log lines
    #: as the engine's columns, ``access_frames``).  "": none
    stats: str = ""
    #: app.watch: ``(block: bytes) -> bytes``: a block of its log with the lines of requests that
    #: went well taken out before they are classified (HAProxy's log is its access log too: most
    #: of it is such lines, ``proxies.haproxy.log``); "": its error log holds failures only
    watch_quiet: str = ""
    #: app.classify: ``(block: bytes, since: str | None) -> (rows, bytes)``: the lines of a block
    #: of its log that ``classify``'s summary can count by group, as summary rows (symptom,
    #: status, source, upstream, lines, first, last), those before ``since`` (``--since`` as
    #: ``app.classify.filter_since`` compares it) left out, and the block's other lines, handed
    #: back for the rules (HAProxy's session lines: ``proxies.haproxy.classifyfold``; ``watch``'s
    #: error counter too, with no ``since``); "": every line is read alone
    classify_fold: str = ""
    #: parsers: ``(lines: polars.Series, year: int) -> (polars.Series | None, polars.DataFrame |
    #: None)``: which lines of its log it gives the ``classify_line`` records of without reading
    #: them one by one (a Boolean mask as long as ``lines``; None: none), and those records
    #: (``errorlog_batch.OUTPUT_SCHEMA``, ``idx`` the position; a line read as nothing has none)
    #: -- HAProxy's session lines by group
    #: (``proxies.haproxy.classifyfold.known_lines``), httpd's error lines read as nothing by key
    #: (``proxies.apache.known.known_lines``) --, handed to the per-line path of
    #: ``classify``/``diagnose`` by the registry (``parsers.linememo.known``); "": none
    classify_known: str = ""
    #: app.classify: ``(lines: bytes, marks: bytes, first_line: int, file_json: bytes, since: str |
    #: None, year: int) -> (records, runs, rows handed back, their text, failures) | None``:
    #: ``classify --format jsonl``'s records of the lines of its log it writes itself (the lines
    #: joined by newlines, as the nginx scanner hands them back with their ``marks``: each one's
    #: index in the batch and where its records go, int64 pairs), in line order, with the runs of
    #: them that go in one place (``(first row, last row, offset, start, end)``), and the rows it
    #: hands back for the per-line path (HAProxy's session lines:
    #: ``proxies.haproxy.classifyfold.jsonl_block``); None: it writes none.  "": none
    classify_jsonl: str = ""
    #: analyzers: the module of its ``analyze`` plug-in (``proxies.<name>.analyze``): the
    #: findings only its own machinery makes, in the analyzers' terms (HAProxy: every server of a
    #: backend taken DOWN by its health checks, ``Capability.HEALTH_CHECKED_SERVERS``; functions
    #: ``all_down(ev, name, groups)`` and ``down_now(ev, seen)``).  "": none
    analyze: str = ""
    #: sources.proxyprocs: ``(argv, pid) -> (config, access logs) | None`` of a running edge
    #: server (``Capability.EDGE_PROCESS``): the config its command line names (or the one it
    #: reads by default) and the access logs that config writes, None for a process of its
    #: program that serves nothing (Caddy's ``caddy run``: ``proxies.caddy.source.edge_run``).
    #: "": its processes are not read
    edge_run: str = ""
    #: parsers: the dotted module path of the C extension that scans its error lines natively, the
    #: engine's format (``Capability.ENGINE_LOGS``; built at install, ``setup.py``), handed to the
    #: engine by the registry (``parsers.native``; ``classify``'s summary and ``watch``'s access
    #: counts).  "": none; a missing build is none too (the polars engine reads every line)
    native_scanner: str = ""
    #: the dotted module path of the C extension that cuts its own log's lines for ``stats`` and
    #: ``diagnose`` (built at install, ``setup.py``; ``why502 --version`` lists it).  "": none
    native_log_reader: str = ""
    #: parsers: ``module:class`` of a memo of ``errorlog.classify_line`` for its error lines (the
    #: same records, read once per message: ``parsers.linememo``), handed to the per-line paths of
    #: ``classify`` and ``watch`` by the registry.  "": none (``classify_line`` reads every line)
    line_memo: str = ""


@dataclass(frozen=True)
class Detection:
    """How a config is recognised as this proxy's, beyond :meth:`Proxy.detect`."""

    programs: tuple[str, ...]  # names of its executable (``/proc/PID/comm``, argv[0])
    title_prefix: str | None = None  # a master that rewrites its title ("nginx: master process")
    include: re.Pattern[str] | None = None  # an include line of the masked text; group 1: the path
    priority: int = 0  # on equal scores, the higher priority wins
    #: the ``source`` names classify gives this proxy's lines besides its own name (Caddy's error
    #: logger: the ``go-proxy`` rules of Go's reverse-proxy errors, which cloudflared's share)
    log_sources: tuple[str, ...] = ()
    #: a ``#`` starts a comment anywhere outside quotes (nginx, HAProxy); False: only at a
    #: line's start (Apache: ``ap_cfg_getline``, server/util.c, keeps a ``#`` inside a line)
    hash_comments_anywhere: bool = True
    #: where its executable is installed outside a user's PATH (``/usr/sbin`` is not on a
    #: user's): with ``programs`` on PATH, what says the proxy is installed on this host
    #: (``proxies.installed_binary``; issue 23: discovery asks every proxy the same way)
    sbin: tuple[str, ...] = ()
    #: the config paths its packages install (Debian's ``/etc/nginx/nginx.conf``); empty: the
    #: vocabulary's ``default_config`` (``proxies.packaged_config``)
    packaged_configs: tuple[str, ...] = ()
    #: who its workers run as when its config names no user: the compiled-in user, and the
    #: groups tried in order, the first that exists on this host (nginx's ``nobody``, group
    #: ``nobody`` or ``nogroup``: auto/unix).  Empty: not declared, and
    #: ``sources.accounts.worker_identity`` reads it by the default proxy's declaration
    worker_user: str = ""
    worker_groups: tuple[str, ...] = ()


@runtime_checkable
class Proxy(Protocol):
    """A reverse proxy as the rest of why502 sees it (module docstring)."""

    name: str  # the identifier: --proxy NAME, Finding.proxy, Evidence.proxy
    vocabulary: Vocabulary
    capabilities: frozenset[Capability]
    detection: Detection
    hooks: Hooks

    def detect(self, raw: str, masked: str) -> int:
        """How surely ``raw`` (a config's text; ``masked``: the same, quoted strings and
        comments blanked by :func:`mask`) is this proxy's: 0 not at all, the count of its marks
        otherwise; :data:`CERTAIN` for a mark no other grammar has."""
        ...

    def can(self, capability: Capability) -> bool:
        ...

    def reword(self, text: str) -> str:
        """A catalog text (written in the words of the proxy with ``CATALOG_WORDING``) in this
        proxy's words."""
        ...

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        """Check the edited config with the proxy's own test, then reload it (``prefix``: the
        running master's own, nginx's ``-p``)."""
        ...

    def show_group_commands(self, group: str | None) -> list[str]:
        """Commands that print a group's servers as the running proxy sees them."""
        ...

    def response_timeout(self, settings: Mapping[str, Setting], kind: str
                         ) -> tuple[str, Setting | None]:
        """The name of the timer that gives up on a slow response header for a target whose
        effective ``settings`` are given (``kind``: proxy, fastcgi, ...), and its setting."""
        ...

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        """The timer's value in seconds (None: no timer, or not readable)."""
        ...

    def timeout_diff(self, files: Mapping[str, tuple[str, ...]], name: str, setting: Setting | None,
                     route: tuple[str | None, int | None], target: tuple[str | None, int | None],
                     seconds: int, anchor: str | None = None) -> str | None:
        """A unified diff setting the timer to ``seconds`` where ``setting`` is, or, when it is a
        default, in the block of ``route`` = (file, line) of what passes to the target (the
        target's own ``(file, line)`` when there is none).  ``anchor``: the statement that passes
        to the target (``proxy_pass``), which finds the block on a config written on one line."""
        ...


CERTAIN = 1_000_000  # a score no count of ordinary marks reaches
CATALOG_WORDS = "nginx"  # whose words the catalog's texts are written in (Capability.CATALOG_WORDING)


class BaseProxy:
    """Defaults every proxy shares; a proxy's class overrides what differs."""

    name: str
    vocabulary: Vocabulary
    capabilities: frozenset[Capability]
    detection: Detection
    hooks: Hooks

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def reword(self, text: str) -> str:
        if self.can(Capability.CATALOG_WORDING):
            return text
        title = self.vocabulary.title
        return text.replace(f"{CATALOG_WORDS}'s worker user", f"{title}'s user").replace(CATALOG_WORDS, title)

    def reload_commands(self, config: str | None, *, prefix: str | None = None) -> list[str]:
        v = self.vocabulary
        return [v.config_test.format(config=config or v.default_config), v.reload]

    def timeout_seconds(self, setting: Setting | None) -> float | None:
        """nginx-style time (``60s``, ``500ms``, ``90``); 60 s when unset (nginx and Apache's
        default)."""
        return seconds(setting.value) if setting else 60.0

    def __repr__(self) -> str:
        return f"<proxy {self.name}>"


def resolve(hook: str) -> object:
    """The object a :class:`Hooks` path names (``package.module:attribute``)."""
    module, _, attr = hook.partition(":")
    obj: object = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


_SECONDS = re.compile(r"^(\d+)(ms|s|m|h)?$")


def seconds(value: str | None) -> float | None:
    """A time value in nginx's simple form (``60s``, ``2m``, ``500ms``, ``90``) in seconds
    (``ngx_parse_time``, src/core/ngx_parse.c; Apache's ``ap_timeout_parameter_parse`` takes the
    same units)."""
    if not value:
        return None
    m = _SECONDS.match(value.strip())
    if not m:
        return None
    n = float(m.group(1))
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"?|\'(?:[^\'\\\n]|\\.)*\'?|#[^\n]*')
_STRING_OR_LINE_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"?|\'(?:[^\'\\\n]|\\.)*\'?|(?m:^[ \t]*#[^\n]*)')


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group(0))


def mask(text: str, *, hash_comments_anywhere: bool = True) -> str:
    """``text`` with every quoted string and comment replaced by spaces (same length, same lines).

    Detection counts braces and keywords; a brace or keyword inside a string (a JSON
    ``log-format``/``LogFormat``, an ``add_header`` value) or a comment is not grammar.  Single
    and double quotes with backslash escapes are what nginx (``ngx_conf_read_token``,
    src/core/ngx_conf_file.c), HAProxy (configuration.txt 2.2 "Quoting and escaping") and
    Apache (``ap_getword_conf``, server/util.c) all take; a ``#`` starts a comment anywhere
    outside quotes for nginx and HAProxy, and only at a line's start for Apache
    (``hash_comments_anywhere=False``: a ``#`` mid-line is an argument there, configuring.html
    "Syntax of the Configuration Files").  A string ends at its closing quote or at the end of
    its line, so an unclosed quote cannot swallow the rest of the file; the scan is one
    left-to-right pass of one regex without nested repetition (linear time).
    """
    rx = _STRING_OR_COMMENT if hash_comments_anywhere else _STRING_OR_LINE_COMMENT
    return rx.sub(_blank, text)


SCHEMA_1_CONFIG = "nginx_conf"
"""The key the first version of why502's saved results gave the proxy's main config, named for
the first proxy (nginx), kept as it is so that saved results and whoever reads them stay valid: a
report's ``inputs`` names the default proxy's config so (``proxies.config_key``; the others'
``config``), ``lint``'s ``inputs`` any proxy's, and ``fix``'s journal any proxy's (an older
why502 undoes a change of a newer one), and the demo bundle's manifest (format 1) its config.  The
one place it is spelled (issue 23)."""

SCHEMA_1_BINARY = "nginx_bin"
"""The key ``fix``'s journal gives the proxy's binary (as :data:`SCHEMA_1_CONFIG`)."""
