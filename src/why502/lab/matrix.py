"""The fault matrix: faults x proxies x backends x traffic x noise, generated, not hand-written.

Why: the hand-written lab scenarios are diagnosed right 100% of the time because the rules were
written while looking at them (issue 25).  The matrix declares its dimensions and generates every
cell that makes sense, so most cells are combinations nobody wrote a rule for: a fault behind a
proxy it was never shown on, on the other loopback family, under bursty or POST traffic, on a
noisy host.

Each cell is run as a user would meet it: a real proxy (nginx, HAProxy, Apache httpd, Envoy,
Caddy) in front of a real backend (``lab/assets/backend.py`` in the fault's mode) on loopback, in
a temp dir, random ports; bounded traffic; then the cell **proves its fault from the proxy's own
log** (``proof``: the text the proxy writes for it, from its source) before ``why502 diagnose``
runs.  A fault that did
not show in the proxy's log is a harness failure, never a pass.  ``diagnose`` is the command
itself (``python -m why502 diagnose ... --format json`` in a child process, live checks on, while
the stack still runs), and each cell also checks the invariants of issue 25 item 4 that one run
can show: clients got proxy-made 5xx -> never healthy, never exit 0; a finding that names a
backend names the failing one.

Dimensions (``FAULTS``, ``PROXIES``, ``BACKENDS``, ``TRAFFIC``, ``NOISE``) are data; ``cells()``
is their product, filtered by what each fault declares it can run on.  ``sample(k, seed)`` takes a
stratified sample (every proxy x fault first, then at random) for the suite; ``why502 lab matrix``
runs all of it or a sample, with a seed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from why502.lab.runtime import LabError, LabSkip, Response, Stack
from why502.lab.runtime.plugins import lab_plugin
from why502.lab.scenarios.common import dead_port, php_location, server
from why502.lab.scenarios.model import ScenarioRun
from why502.parsers.lblogs.family import LogFamily
from why502.proxies import PROXIES as PROXY_REGISTRY
from why502.proxies.base import Capability, resolve
from why502.sources.proxyprocs import PIDS_ENV

# Envoy and Caddy are started by their lab plug-ins' ``front()`` (``_start_proxy``); their proofs
# are in Envoy's access log (the response flags) and Caddy's own log (the Go error).
PROXIES: tuple[str, ...] = ("nginx", "haproxy", "apache", "envoy", "caddy")
# The backend: the lab's Python HTTP server on either loopback family (a proxy's target is an
# address, and the families take different paths through the config readers (``[::1]:PORT``)
# and the probes) or on a unix socket (gunicorn/uvicorn ``--bind unix:``); or PHP-FPM over
# FastCGI on a loopback port or a unix socket (a PHP app's usual backend).  Each proxy reaches
# each kind its own way (``_start_proxy``): nginx ``proxy_pass http://unix:PATH:`` and
# ``fastcgi_pass``; HAProxy ``unix@PATH`` and ``proto fcgi`` with an ``fcgi-app`` (2.1+);
# Apache ``unix:PATH|http://localhost/`` and ``fcgi://`` (mod_proxy_fcgi).
# Real app servers (``lab.runtime.appservers``: gunicorn with sync workers, uWSGI's HTTP socket,
# Node's http.Server) on 127.0.0.1, serving the lab's app (``/crash``, ``/slow/N``,
# ``/status/NNN``): a proxy meets their own behaviour (gunicorn's worker timeout, uWSGI's
# harakiri, a Node process that an uncaught exception ends), and their own logs and configs are
# given to diagnose as a user would (``--app-log``, ``--app-conf``).
APP_BACKENDS: tuple[str, ...] = ("gunicorn", "uvicorn", "uwsgi", "node")
BACKENDS: tuple[str, ...] = ("tcp4", "tcp6", "unix", "fpm-tcp", "fpm-unix", *APP_BACKENDS)
HTTP_BACKENDS: tuple[str, ...] = ("tcp4", "tcp6", "unix")
FPM_BACKENDS: tuple[str, ...] = ("fpm-tcp", "fpm-unix")
# The backend kinds each proxy's runtime can front: every kind, but Envoy speaks no FastCGI (its
# router's upstreams are HTTP/1, HTTP/2 and HTTP/3: there is no FastCGI filter in envoyproxy/envoy)
FRONTS: dict[str, tuple[str, ...]] = {
    **{p: BACKENDS for p in PROXIES}, "envoy": HTTP_BACKENDS + APP_BACKENDS}
# steady: a few sequential GETs; bursty: concurrent bursts with idle gaps (a reused keep-alive
# connection idles there); post: POSTs with a body (not retried by a proxy once sent).  The slow
# clients: slow-send (a POST whose body stalls past the proxy's client timeout: a phone on a bad
# network, an upload that hangs) and slow-read (a GET of a large answer the client stops
# reading).  The proxy times the client out and logs it (408, a client timeout); the backend did
# nothing wrong, so why502 must not name a backend cause for it.
TRAFFIC: tuple[str, ...] = ("steady", "bursty", "post")
# concurrent: one burst of ``CONCURRENT`` requests at once (a full pool's fault: more requests
# than workers); not a default shape, a fault names it
FAULT_TRAFFIC: tuple[str, ...] = ("concurrent",)
CONCURRENT = 6
CLIENT_TRAFFIC: tuple[str, ...] = ("slow-send", "slow-read")
# quiet: only the fault; noisy: a real host's baseline laid over it (lab.noise: other jobs' OOM
# kills and segfaults, an old incident in the rotated log, scanners and client aborts).
NOISE: tuple[str, ...] = ("quiet", "noisy")

# what a cell whose backend is not to blame expects: no finding (diagnose's "healthy")
HEALTHY = "healthy"
SLOW_DELAY = 2.5  # s the slow backend takes
BUSY_DELAY = 0.8  # s a full pool's worker takes per request (less than PROXY_TIMEOUT)
CLIENT_STALL = 2.5  # s a slow client stalls (longer than the proxy's client timeouts below)
CLIENT_TIMEOUT = 1  # s the proxy waits on a client (client_body_timeout / timeout client / Timeout)
BIG_BODY = 8 << 20  # bytes of the answer a slow-reading client stops reading (beyond socket buffers)
PROXY_TIMEOUT = 1  # s the proxy waits for a response (read timeout / timeout server / ProxyTimeout)
KEEPALIVE_IDLE = 0.3  # s after which the keep-alive-closing backend drops an idle connection


@dataclass(frozen=True)
class Fault:
    """One thing that goes wrong behind the proxy.

    ``mode`` is the lab backend's mode (None: nothing listens); ``proof`` maps each proxy the
    fault can happen behind to the text that proxy logs for it (the same texts its lab
    scenarios prove, cited there from each proxy's source).  ``traffic`` lists the shapes that
    provoke it; ``made_by_proxy`` says whether the client's 5xx is the proxy's own (the backend's
    own 502 is relayed, not made)."""

    name: str
    cause: str | None  # None: no cause at all (healthy), the backend is not to blame
    mode: str | None
    proof: dict[str, str]
    traffic: tuple[str, ...] = TRAFFIC
    made_by_proxy: bool = True
    keepalive: bool = False  # the proxy must reuse upstream connections
    # the backend kinds the fault happens on (a TCP reset has no unix-socket form; a bad status
    # line or a keep-alive race no PHP-FPM one: FastCGI has neither)
    backends: tuple[str, ...] = HTTP_BACKENDS + FPM_BACKENDS
    # what the proxy logs differs by backend kind: (proxy, kind) -> proof, where kind is a
    # backend ("unix") or "fpm" for both PHP-FPM kinds; else ``proof[proxy]``
    proof_kind: dict[tuple[str, str], str] = field(default_factory=dict)
    # how long the proxy waits for the response (the app server's own limit must come first in
    # a fault where the app server kills its worker)
    proxy_timeout: float = PROXY_TIMEOUT
    # backend kind -> what the app server's own log shows for the fault (checked with the proxy's)
    app_proof: dict[str, str] = field(default_factory=dict)
    # proxy -> why it has no cell for this fault (``--list`` prints it: a gap is explained, not
    # silent)
    no_cell: dict[str, str] = field(default_factory=dict)
    # how the proxy speaks to the backend: None as the backend kind wants (HTTP to an HTTP
    # server, FastCGI to PHP-FPM); else "http", "fastcgi" or "tls" (HTTPS) whatever listens
    # there: the protocol and TLS faults are a proxy speaking what its backend does not
    speak: str | None = None
    # the unix socket's mode (owned by root, the lab's user) when the fault is that the proxy's
    # workers, another user, may not open it: set, the cell needs root and runs nginx's workers
    # as ``nobody`` (Apache's children are www-data as root already)
    socket_mode: int | None = None
    # > 0: the backend is a group of two targets, both down (nothing listens) for the first
    # requests and back for the next ones, and the proxy's failure accounting keeps a failed
    # target out for this many seconds (nginx ``fail_timeout``, Apache ``retry``, Envoy's
    # ejection, Caddy's ``fail_duration``; HAProxy's ``rise`` checks): the marking, not the
    # targets, fails the later requests (``_group``)
    group_hold: float = 0.0
    # > 0: the backend's pool has this many workers and a listen backlog of 1 (PHP-FPM ``pm =
    # static``, ``pm.max_children``, ``listen.backlog``; gunicorn ``workers``, ``backlog``), and a
    # proxy that has a per-server limit has it at the same number (HAProxy ``maxconn``, Envoy's
    # circuit breaker): concurrent requests find it full (``POOL_FAULT``)
    workers: int = 0
    # the proxy's own limit the fault sets (stop 47, ``_limit_lines``): "header" (the response
    # header is larger than the proxy takes), "rate" (its request-rate limit), "fd" (its
    # connection slots); "" none
    limit: str = ""

    def fastcgi(self, backend: str) -> bool:
        """Whether the proxy speaks FastCGI to ``backend`` in this fault."""
        return self.speak == "fastcgi" or (self.speak is None and backend in FPM_BACKENDS)

    @property
    def proxies(self) -> tuple[str, ...]:
        return tuple(p for p in PROXIES if p in self.proof)

    def proof_for(self, proxy: str, backend: str, traffic: str = "") -> tuple[str, str]:
        """(log, text): what ``proxy`` logs for this fault on a ``backend`` kind under
        ``traffic``, and in which of its logs ("access" when the proof starts ``access:``)."""
        group = "fpm" if backend in FPM_BACKENDS else backend
        proof = (self.proof_kind.get((proxy, traffic)) or self.proof_kind.get((proxy, backend))
                 or self.proof_kind.get((proxy, group)) or self.proof[proxy])
        return ("access", proof[len("access:"):]) if proof.startswith("access:") else ("error", proof)


# Why HAProxy has no keep-alive-race cell yet (docs/dev/fault-matrix.md, stop 43).  The race
# does happen: with ``http-reuse always``/``aggressive`` a client's *first* request can go on an
# idle server connection, and when the server resets it HAProxy 2.6 answers 502 and logs
# termination state ``SH--`` (src/http_ana.c ``http_wait_for_response``, case "1: read error":
# ``abort_keep_alive`` only ``if (txn->flags & TX_NOT_FIRST)``).  With the default ``safe`` no
# first request is sent on an idle connection (configuration.txt 4.2 ``http-reuse``) and a later
# one ends in ``abort_keep_alive``: the client connection is closed with no response and
# ``s->logs.logwait = 0``, so no log line.  The lab's HAProxy config for the fault is written
# (``_start_proxy``), but a cell would score ``backend-crashed``: why502 reads no keep-alive pool
# from HAProxy's config (``http-reuse``, its idle timeout) yet.
HAPROXY_KEEPALIVE_NO_CELL = ("not yet: HAProxy 2.6 with http-reuse always/aggressive logs 502 SH-- "
                             "for it, but why502 reads no HAProxy keep-alive pool yet (with the "
                             "default http-reuse safe: no 502, no log line, stop 43)")


# HAProxy's httplog line: "... fe app/web1 T/T/T/T/T STATUS BYTES - - STATE ..." (configuration.txt
# 8.2.3, 8.5 termination states: first letter who ended it, second at which phase).
_HA = r"fe app/\S+ [-\d/]+ "

# A missing unix socket: nginx ngx_event_connect_peer() logs the connect() errno with the path
# (``connect() to unix:PATH failed (2: ...)``); Apache's proxy_util.c logs AH02454 for a unix
# socket whatever the scheme (proxy_http or proxy_fcgi).
_NGX_NO_SOCKET = r"connect\(\) to unix:\S+ failed \(2: No such file or directory\)"
_APACHE_NO_SOCKET = r"\(2\)No such file or directory: AH02454"

# Envoy's default access-log line (source/common/formatter, DEFAULT_FORMAT): ``"METHOD PATH
# PROTOCOL" CODE FLAGS ...``, the flags from source/common/stream_info/utility.cc
# (ResponseFlagUtils): UF upstream connection failure, UC upstream connection termination, UT
# upstream request timeout, UPE upstream protocol error; "-" none (the app's own response).
_ENVOY = r'access:" '
# Caddy's own log (stderr, what ``journalctl -u caddy`` shows): the ``http.log.error`` line whose
# ``msg`` is the Go error of the round trip (modules/caddyhttp/reverseproxy/reverseproxy.go,
# ServeHTTP -> statusError: a timeout -> 504, anything else 502), in Go's net/net.http words.
_CADDY = r'"logger":"http\.log\.error[.\w]*","msg":"[^"]*'
_CADDY_NO_SOCKET = _CADDY + r"dial unix [^\s\"]+: connect: no such file or directory"

FAULTS: tuple[Fault, ...] = (
    Fault("stopped", "backend-not-running", None, {
        "nginx": r"connect\(\) failed \(111: Connection refused\)",
        "haproxy": _HA + r"503 \d+ - - SC--",
        "apache": r"\(111\)Connection refused: AH00957",
        "envoy": _ENVOY + r"503 UF ",
        "caddy": _CADDY + r"dial tcp [^\s\"]+: connect: connection refused",
    }, proof_kind={("nginx", "unix"): _NGX_NO_SOCKET, ("nginx", "fpm-unix"): _NGX_NO_SOCKET,
                   ("apache", "unix"): _APACHE_NO_SOCKET, ("apache", "fpm-unix"): _APACHE_NO_SOCKET,
                   ("caddy", "unix"): _CADDY_NO_SOCKET, ("caddy", "fpm-unix"): _CADDY_NO_SOCKET}),
    Fault("slow", "backend-too-slow", "slow", {
        "nginx": r"upstream timed out \(110: Connection timed out\) while reading response header",
        "haproxy": _HA + r"504 \d+ - - sH--",
        "apache": r"\(70007\)The timeout specified has expired",
        "envoy": _ENVOY + r"504 UT ",
        "caddy": _CADDY + r"timeout awaiting response headers",
    }, proof_kind={("caddy", "fpm"): _CADDY + r"i/o timeout"}, traffic=("steady", "post"),
       backends=HTTP_BACKENDS + FPM_BACKENDS + APP_BACKENDS),
    Fault("crash", "backend-crashed", "crash", {
        "nginx": r"upstream prematurely closed connection while reading response header",
        "haproxy": _HA + r"502 \d+ - - SH--",
        "apache": r"AH01102: error reading status line from remote server",
        "envoy": _ENVOY + r"503 UC ",
        "caddy": _CADDY + r"(?:unexpected )?EOF",
    }, proof_kind={
        # a PHP worker killed mid-request: nginx's FastCGI reader (ngx_http_fastcgi_module.c)
        # says "prematurely closed FastCGI stdout", or the recv() error; mod_proxy_fcgi.c logs
        # AH01067 (no FastCGI header) and AH01075 (error dispatching request)
        ("nginx", "fpm"): r"upstream prematurely closed FastCGI stdout|recv\(\) failed \(104",
        ("apache", "fpm"): r"AH01067|AH01075|AH01068",
    }, backends=HTTP_BACKENDS + FPM_BACKENDS + APP_BACKENDS),
    Fault("reset", "backend-crashed", "reset", {
        "nginx": r"recv\(\) failed \(104: Connection reset by peer\) while reading response header",
        "haproxy": _HA + r"502 \d+ - - SH--",
        "apache": r"\(104\)Connection reset by peer",
        "envoy": _ENVOY + r"503 UC ",
        "caddy": _CADDY + r"connection reset by peer",
    }, backends=("tcp4", "tcp6")),
    Fault("bad-status-line", "backend-invalid-response", "bad-status-line", {
        "nginx": r"upstream sent no valid HTTP/1\.0 header",
        "haproxy": _HA + r"502 \d+ - - PH--",
        "envoy": _ENVOY + r"50[23] UPE ",
        "caddy": _CADDY + r"malformed HTTP",
    }, traffic=("steady", "bursty"), backends=HTTP_BACKENDS),
    Fault("backend-5xx", "upstream-returned-5xx", "status502", {
        "nginx": r'access:" 502 .*upstream_status="502"',
        "haproxy": _HA + r"502 \d+ - - ----",
        "apache": r'access:" 502 ',
        "envoy": _ENVOY + r"502 - ",
        "caddy": r'access:"status":502',
    }, traffic=("steady", "bursty"), made_by_proxy=False,
       backends=HTTP_BACKENDS + FPM_BACKENDS + APP_BACKENDS),
    # The app server's own time limit kills the worker mid-request, before the proxy's: gunicorn's
    # ``timeout`` (arbiter.py murder_workers: "[CRITICAL] WORKER TIMEOUT (pid:N)", SIGABRT) and
    # uWSGI's ``harakiri`` ("HARAKIRI ON WORKER N", core/master_utils.c).  Behind uWSGI the proxy
    # sees the connection close before a status line, as for a crash.  gunicorn's sync worker
    # turns the SIGABRT into SystemExit inside the app (workers/base.py handle_abort), catches it
    # and answers 500 itself (sync.py handle_request -> handle_error): the proxy relays a 500.
    # Either way the app server's log and config decide that it was too slow (the lab
    # scenarios' gunicorn and harakiri faults).
    Fault("app-timeout", "backend-too-slow", "worker-timeout", {
        "nginx": r"upstream prematurely closed connection while reading response header",
        "haproxy": _HA + r"502 \d+ - - SH--",
        "apache": r"AH01102: error reading status line from remote server",
        "envoy": _ENVOY + r"50[23] UC ",
        "caddy": _CADDY + r"(?:unexpected )?EOF",
    }, traffic=("steady", "post"), backends=("gunicorn", "uwsgi"), proxy_timeout=8.0, proof_kind={
        ("nginx", "gunicorn"): r'access:" 500 .*upstream_status="500"',
        ("haproxy", "gunicorn"): _HA + r"500 \d+ - - ----",
        ("apache", "gunicorn"): r'access:" 500 ',
        ("envoy", "gunicorn"): _ENVOY + r"500 - ",
        ("caddy", "gunicorn"): r'access:"status":500',
    },
       app_proof={"gunicorn": r"WORKER TIMEOUT", "uwsgi": r"HARAKIRI ON WORKER"}),
    Fault("keepalive-close", "keepalive-race", "keepalive-closer", {
        "nginx": r"recv\(\) failed \(104: Connection reset by peer\)|upstream prematurely closed",
        "envoy": r'access:"POST \S+ HTTP/1\.1" 503 UC ',
        "caddy": _CADDY + r"(?:unexpected )?EOF|connection reset by peer",
    }, traffic=("post",), keepalive=True, backends=("tcp4", "tcp6"), no_cell={
        "haproxy": HAPROXY_KEEPALIVE_NO_CELL,
    }),
    # A healthy backend behind slow clients: what each proxy logs for a client that stalls (its
    # own client timeout: nginx ngx_http_request_body.c / ngx_http_upstream.c "client timed out"
    # at info; HAProxy's termination state "cR" (client timeout waiting for the request) and
    # "cD" (client timeout in the data phase), configuration.txt 8.5; Apache's 408 for a body
    # read that timed out, with mod_proxy's AH01095 "prefetch request body failed to <backend>"
    # (70007) in the error log, and a 200 that took past ``Timeout`` and was cut short).
    Fault("slow-client", None, "ok", {
        "nginx": r'access:"POST \S+ HTTP/1\.1" 408 ',
        "haproxy": r" 408 \d+ - - cR--",
        "apache": r'access:"POST \S+ HTTP/1\.1" 408 ',
    }, traffic=CLIENT_TRAFFIC, made_by_proxy=False, proof_kind={
        ("nginx", "slow-read"): r"client timed out \(110: Connection timed out\) while sending to client",
        ("haproxy", "slow-read"): r" 200 \d+ - - cD--",
        ("apache", "slow-read"): r'access:"GET \S+ HTTP/1\.1" 200 [0-7]?\d{1,6} \d{7}',
    }),
)

# The catalog's other causes (stop 45): the proxy speaks what its backend does not, and a PHP
# app that dies on a fatal error.  The proxies' words, each as the existing faults' and the
# catalog's patterns cite them (patterns.toml ``provenance``, docs/reference/proxy-messages.md):
#
# A connection the backend resets or closes because it cannot read what it got (HTTP bytes on a
# TLS or a FastCGI port): the same lines as the ``reset`` fault -- nginx ngx_http_upstream.c
# ngx_http_upstream_process_header() ("recv() failed (104: ...)", or "upstream prematurely
# closed connection" when the peer closes without a reset), HAProxy ``SH--`` (configuration.txt
# 8.5: the server aborted in the header phase), Apache's AH01102 (mod_proxy_http.c
# ap_proxy_http_process_response()), Envoy's ``UC`` (upstream connection termination), Caddy's
# Go error (net: "connection reset by peer", or "EOF").
_RESET_OR_CLOSE: dict[str, str] = {
    "nginx": r"recv\(\) failed \(104: Connection reset by peer\) while reading response header"
             r"|upstream prematurely closed connection while reading response header",
    "haproxy": _HA + r"502 \d+ - - SH--",
    "apache": r"(?:\(104\)Connection reset by peer|\(70014\)End of file found|\(20014\)Internal error"
              r"[^:]*): .*AH01102: error reading status line from remote server",
    "envoy": _ENVOY + r"50[23] UC ",
    "caddy": _CADDY + r"(?:connection reset by peer|(?:unexpected )?EOF)",
}
NEW_FAULTS: tuple[Fault, ...] = (
    # TLS spoken to a plain-HTTP backend: nginx's handshake fails on the first bytes of the
    # answer (src/event/ngx_event_openssl.c ngx_ssl_handshake() -> ngx_ssl_connection_error(),
    # "SSL_do_handshake() failed (SSL: ... wrong version number)", the action "SSL handshaking
    # to upstream" set by ngx_http_upstream_ssl_init_connection()); HAProxy counts a failed
    # server-side handshake as a failed connect: ``503 SC--`` (configuration.txt 8.5 "SC", the
    # connection phase), the same state a refused port gets; Apache answers 500 with AH00898
    # "Error during SSL Handshake with remote server returned by %s" (proxy_util.c
    # ap_proxyerror(), after mod_ssl's AH02003 "SSL Proxy connect failed" at info); Envoy's
    # ``UF`` (upstream connection failure: the transport socket's handshake is part of the
    # connect, source/common/stream_info/utility.cc); Caddy's Go error from crypto/tls conn.go
    # readRecordOrCCS(): "tls: first record does not look like a TLS handshake".  A plain
    # backend on every loopback kind; the app servers speak plain HTTP as these do.
    Fault("tls-to-plain", "upstream-tls-mismatch", "ok", {
        "nginx": r"SSL_do_handshake\(\) failed \(SSL: error:0A00010B:SSL routines::wrong version number\) "
                 r"while SSL handshaking to upstream",
        "haproxy": _HA + r"503 \d+ - - SC--",
        "apache": r"AH00898: Error during SSL Handshake with remote server returned by",
        "envoy": _ENVOY + r"503 UF ",
        "caddy": _CADDY + r"tls: first record does not look like a TLS handshake",
    }, speak="tls", traffic=("steady",), backends=HTTP_BACKENDS),
    # Plain HTTP spoken to a TLS port (the catalog's protocol-mismatch: "proxy_pass http:// to a
    # TLS port").  The lab's TLS backend is Python's ssl server, as gunicorn's or uvicorn's
    # ``--certfile``: its handshake fails on "GET ..." and it drops the connection, so every
    # proxy logs a reset or an early close.  On loopback TCP only: the lab backend serves TLS on
    # a port, not on a unix socket (``lab/assets/backend.py`` wraps only its TCP listener; the
    # first score's unix cells answered 200 in plain HTTP and did not reproduce, stop 45).
    Fault("http-to-tls", "protocol-mismatch", "tls", _RESET_OR_CLOSE, traffic=("steady",),
          backends=("tcp4", "tcp6")),
    # Plain HTTP spoken to PHP-FPM's FastCGI port or socket (the catalog's first example:
    # "proxy_pass http:// to PHP-FPM"): FPM reads the first bytes as a FastCGI record header,
    # finds no valid record and closes (sapi/fpm/fpm/fastcgi.c fcgi_read_request()), so again a
    # reset or an early close.  Envoy too: it speaks HTTP to whatever its cluster names.
    Fault("http-to-fastcgi", "protocol-mismatch", "hello", _RESET_OR_CLOSE, speak="http",
          traffic=("steady",), backends=FPM_BACKENDS),
    # FastCGI spoken to an HTTP server (the catalog's "fastcgi_pass to an HTTP port"): the HTTP
    # server answers 400 to the bytes it cannot parse, and each proxy's FastCGI reader finds
    # version 'H' (72) where a record's version byte is: nginx ngx_http_fastcgi_module.c
    # ngx_http_fastcgi_process_record() "upstream sent unsupported FastCGI protocol version:
    # %d"; Apache mod_proxy_fcgi.c dispatch() AH01068 "Got bogus version %d" (503); Caddy
    # modules/caddyhttp/reverseproxy/fastcgi/record.go fill() "fcgi: invalid header version".
    # HAProxy's FastCGI mux (src/mux_fcgi.c) ends the stream without a log line of its own:
    # the httplog line's ``SH--`` 502.  Envoy speaks no FastCGI (FRONTS).
    Fault("fastcgi-to-http", "protocol-mismatch", "ok", {
        "nginx": r"upstream sent unsupported FastCGI protocol version: 72 while reading response header",
        "haproxy": _HA + r"502 \d+ - - SH--",
        "apache": r"AH01068: Got bogus version 72",
        "caddy": _CADDY + r"fcgi: invalid header version",
    }, speak="fastcgi", traffic=("steady",), backends=HTTP_BACKENDS, no_cell={
        "envoy": "Envoy speaks no FastCGI: its router's upstreams are HTTP/1, HTTP/2 and HTTP/3",
    }),
    # A PHP fatal error: PHP answers 500 itself (main/main.c php_error_cb() sets the status when
    # no output was sent) and writes "PHP Fatal error:  Uncaught Error: ..." to the FastCGI
    # stderr stream; nginx logs it as "FastCGI sent in stderr: \"PHP message: ..." at error
    # (ngx_http_fastcgi_module.c ngx_http_fastcgi_process_header()), Apache as AH01071 "Got
    # error '%s'" (mod_proxy_fcgi.c dispatch()); HAProxy (``log-stderr`` not set: off by
    # default, configuration.txt 10.1.1) and Caddy log only the relayed 500.  PHP-FPM's own log
    # has the worker's stderr (``catch_workers_output``, the lab's pool: fpm_stdio.c "child %d
    # said into stderr") in every cell.
    Fault("php-fatal", "app-fatal-error", "fatal", {
        "nginx": r'FastCGI sent in stderr: "PHP message: PHP Fatal error:  Uncaught Error: Call to undefined',
        "haproxy": _HA + r"500 \d+ - - ----",
        "apache": r"AH01071: Got error 'PHP message: PHP Fatal error:  Uncaught Error: Call to undefined",
        "caddy": r'access:"status":500',
    }, traffic=("steady",), backends=FPM_BACKENDS, made_by_proxy=False,
       app_proof={k: "fpm:PHP Fatal error:  Uncaught Error: Call to undefined" for k in FPM_BACKENDS},
       no_cell={"envoy": "Envoy speaks no FastCGI: a PHP app reaches it only through a web "
                         "server that does (the other proxies' cells)"}),
)
FAULTS = FAULTS + NEW_FAULTS + (
    # The proxy's workers may not open the backend's unix socket: the socket is root's, 0660
    # (PHP-FPM's ``listen.owner``/``listen.mode``; an app server's bind under root's umask), and
    # the workers run as another user.  nginx: ngx_event_connect_peer() logs the connect() errno
    # with the path, "connect() to unix:%s failed (13: Permission denied)"
    # (src/event/ngx_event_connect.c); Apache: proxy_util.c ap_proxy_connect_backend() logs
    # "(13)Permission denied: AH02454: %s: attempt to connect to Unix domain socket %s (%s)
    # failed" (503), the lab scenarios socket-permissions and apache-socket-permissions.  As
    # root only (nginx ignores ``user`` when its master is not root: src/core/nginx.c
    # ngx_set_user()).
    Fault("socket-perm", "socket-permissions", "ok", {
        "nginx": r"connect\(\) to unix:\S+ failed \(13: Permission denied\)",
        "apache": r"\(13\)Permission denied: AH02454",
    }, traffic=("steady",), backends=("unix", "fpm-unix"), socket_mode=0o660, no_cell={
        p: f"{t} runs as the lab's own user here (root), to whom the socket is open: no "
           "worker of another user to refuse" for p, t in (("haproxy", "HAProxy"), ("envoy", "Envoy"),
                                                           ("caddy", "Caddy"))}),
)

# Every target of a group held out by the proxy's own failure accounting (stop 46): a group of
# two, both down while the first requests come (nothing listens: each proxy logs the refusals,
# then marks the target failed), both back for the next ones, which the proxy still refuses from
# its marking.  That is the catalog's all-upstreams-down ("for up to fail_timeout - even if the
# servers recovered a second after"); with the targets still down the root cause is that nothing
# runs (the lab scenarios group-all-stopped and apache-balancer-all-down: backend-not-running).
# The words each proxy writes when its marking leaves it no target:
# - nginx: "no live upstreams while connecting to upstream" (src/http/ngx_http_upstream.c
#   ngx_http_upstream_connect(): the round-robin balancer returned NGX_BUSY, every peer's
#   ``fails >= max_fails`` within ``fail_timeout``, ngx_http_upstream_round_robin.c), 502;
# - HAProxy: its active checks took both DOWN ("Server app/web1 is DOWN, reason: Layer4
#   connection problem", src/server.c) and keep them so until ``rise`` checks pass; a request
#   meanwhile has no server: the httplog line's ``<NOSRV>`` with 503 (configuration.txt 8.5);
# - Apache: mod_proxy_balancer.c proxy_balancer_pre_request() "AH01170: %s: All workers are in
#   error state", 503, each member in error for ``retry`` seconds (``forcerecovery=Off``: the
#   default On would force them back when all are in error, mod_proxy.html#balancermember);
# - Envoy: outlier detection ejected both; with the panic threshold 0 the route has no healthy
#   host: ``503 UH`` (NoHealthyUpstream, source/common/stream_info/utility.cc);
# - Caddy: its passive health check (``fail_duration``) holds both out: "no upstreams
#   available", 503 (modules/caddyhttp/reverseproxy/reverseproxy.go).
GROUP_HOLD = 30.0  # s a failed target stays out: far beyond a cell's few seconds
GROUP_FAULT = Fault("group-down", "all-upstreams-down", "ok", {
    "nginx": r"no live upstreams while connecting to upstream",
    "haproxy": r"fe app/<NOSRV> [-\d/]+ 503 ",
    "apache": r"AH01170: balancer://app: All workers are in error state",
    "envoy": _ENVOY + r"503 UH ",
    "caddy": _CADDY + r"no upstreams available",
}, traffic=("steady",), backends=("tcp4", "tcp6"), group_hold=GROUP_HOLD)
FAULTS = (*FAULTS, GROUP_FAULT)

POOL_FAULT = Fault("pool-full", "workers-exhausted", "busy", {
    "nginx": r"upstream timed out \(110: Connection timed out\) while connecting to upstream",
    "haproxy": _HA + r"503 \d+ - - sQ--",
    "apache": r"\(70007\)The timeout specified has expired: AH00957: \w+: attempt to connect to",
    "envoy": _ENVOY + r"503 UO ",
    "caddy": _CADDY + r"dial tcp [^\s\"]+: i/o timeout",
}, proof_kind={
    ("nginx", "fpm-unix"): r"connect\(\) to unix:\S+ failed \(11: Resource temporarily unavailable\) "
                           r"while connecting to upstream",
    ("apache", "fpm-unix"): r"\(70007\)The timeout specified has expired: \[client [^\]]+\] AH01075: "
                            r"Error dispatching request to : \(polling\)",
    ("caddy", "fpm-unix"): _CADDY + r"dial unix [^\s\"]+: connect: resource temporarily unavailable",
}, traffic=("concurrent",), backends=("fpm-tcp", "fpm-unix", "gunicorn"), workers=1)
FAULTS = (*FAULTS, POOL_FAULT)

# Stop 47 (h/matrix8c): a name that does not resolve at request time, and a route that sends the
# request back into the proxy instead of to its backend.
#
# dns-unresolvable: the proxy resolves the backend's name per request through a resolver of its
# own configuration, and that resolver is the lab's (``backend.py --mode dns-nxdomain``: a UDP
# server on the cell's loopback family answering NXDOMAIN to every question); no other resolver
# is ever asked.  The backend kind is the family the resolver listens on (tcp4: 127.0.0.1, tcp6:
# ::1); nothing is reached behind the name.
# - nginx: ``resolver`` + a variable ``proxy_pass`` (a variable host is resolved per request,
#   ngx_http_proxy_module.html#proxy_pass); src/http/ngx_http_upstream.c
#   ngx_http_upstream_resolve_handler() logs "%V could not be resolved (%i: %s)" with
#   ngx_resolver_strerror()'s "Host not found" for NXDOMAIN (3, src/core/ngx_resolver.c), 502;
# - Caddy: ``dynamic a NAME PORT { resolvers udp/HOST:PORT }`` (reverse_proxy's dynamic
#   upstreams; modules/caddyhttp/reverseproxy/upstreams.go AUpstreams: its net.Resolver's Dial
#   goes to the ``resolvers`` only, whatever server Go's resolver names); reverseproxy.go
#   proxyLoopIteration() logs "failed getting dynamic upstreams; falling back to static
#   upstreams" with Go's DNSError ("lookup NAME on SERVER: no such host", net/net.go; SERVER is
#   /etc/resolv.conf's first, which Go's resolver names but Caddy's Dial does not ask), then,
#   with no static upstream, "no upstreams available", 503;
# - HAProxy: a server line's name with ``resolvers default`` whose one nameserver is the lab's
#   (``dns-vanish``: the record answers 127.0.0.1, where the backend runs, then is deleted);
#   src/server.c srv_set_admin_flag() logs "Server %s/%s is going DOWN for maintenance" with the
#   cause of srv_adm_st_chg_cause[] SRV_ADM_STCHGC_DNS_NX, "DNS NX status", then the requests find
#   no server: ``<NOSRV>`` 503 (``_haproxy_dns``).  diagnose probes the name through the same
#   nameserver (``sources.probes.dnsask``), never the host's resolver.
DNS_NAME = "orders.app.internal"  # a name only the lab's resolver is asked about (NXDOMAIN)
DNS_FAULT = Fault("dns-nxdomain", "dns-unresolvable", None, {
    "nginx": r"\S+ could not be resolved \(3: Host not found\)",
    "haproxy": r"Server app/web1 is going DOWN for maintenance \(DNS NX status\)",
    "caddy": r'"msg":"failed getting dynamic upstreams; falling back to static upstreams",'
             r'"error":"lookup \S+ on [^"]+: no such host"',
}, traffic=("steady",), backends=("tcp4", "tcp6"), no_cell={
    "envoy": "not yet: a STRICT_DNS cluster whose ``typed_dns_resolver_config`` (c-ares) names "
             "the lab's resolver shows it (seen: 503 UH, and no line of the lookup in Envoy's log at "
             "warning), but diagnose reads no Envoy cluster's resolvers yet (HAProxy's since stop "
             "47), so its probe of the name would ask the host's resolver (getaddrinfo(), "
             "/etc/resolv.conf), which a cell may not ask; and UH names no target to probe",
    "apache": "Apache has no resolver of its own: mod_proxy resolves a worker's host with "
              "apr_sockaddr_info_get() (getaddrinfo(), the host's /etc/resolv.conf; "
              "modules/proxy/proxy_util.c ap_proxy_determine_address()), and a cell may ask no "
              "resolver but the lab's on loopback",
})

# proxy-misrouted: ``proxy_pass`` names the proxy's own listen address (a port typo, a copied
# block), so every request goes back into the proxy, hop after hop, and never reaches the
# backend that runs beside it.  nginx bounds the loop with its connections: once a worker's
# ``worker_connections`` are all taken (the lab's 64), src/core/ngx_connection.c
# ngx_get_connection() logs "%ui worker_connections are not enough" (alert) and the innermost
# hops fail (ngx_http_upstream.c: the recv() of a hop whose peer could not be served), 502 to
# the client; the error line's ``upstream:`` is nginx's own address.
MISROUTE_FAULT = Fault("self-loop", "proxy-misrouted", "ok", {
    "nginx": r"\d+ worker_connections are not enough",
}, traffic=("steady",), backends=("tcp4",), no_cell={
    "haproxy": "not yet: a server on HAProxy's own bind loops until a frontend's maxconn, and the "
               "hops then wait in the kernel's backlog until ``timeout server`` (504/503 states "
               "that name no loop); not checked here",
    "apache": "not yet: a ProxyPass to Apache's own Listen loops until MaxRequestWorkers, and the "
              "hops then wait for a worker until ProxyTimeout; not checked here",
    "envoy": "not yet: a cluster on Envoy's own listener loops until the cluster's circuit "
             "breakers (1024 connections by default) answer 503 UO, far beyond a cell's budget",
    "caddy": "Caddy bounds no loop: its HTTP transport has no connection cap by default "
             "(``max_conns_per_host`` 0, reverse_proxy docs), so an upstream on its own listener "
             "opens connections until the process's file limit, no cell may run that",
})
FAULTS = (*FAULTS, DNS_FAULT, MISROUTE_FAULT)

# The proxy's own limits (stop 47): the backend answers, and the proxy refuses the request or
# the answer by a limit of its own.  Proofs observed on this machine's proxies before they were
# written; the sources cited at each fault.
BIG_HEADER = 20000  # bytes of the backend's Set-Cookie: past nginx's 4k|8k, HAProxy's 16k buffer
RATE_PER_S = 1  # the proxy's request-rate limit (a burst of one more); steady traffic sends 4 at once
# A response header larger than the proxy takes (the catalog's buffer-too-small: a login that
# sets a large cookie).  Each proxy refuses it with 502 and says so:
# - nginx: "upstream sent too big header while reading response header from upstream"
#   (src/http/ngx_http_upstream.c ngx_http_upstream_process_header(): the header did not fit
#   ``proxy_buffer_size``, the buffer full with NGX_AGAIN from the module's process_header);
# - HAProxy: the httplog line's ``PH--`` 502 (configuration.txt 8.5: the proxy refused the
#   response in the header phase; src/http_ana.c http_wait_for_response(): the buffer, tune.bufsize
#   less tune.maxrewrite, full before the headers end -> "too large");
# - Apache: "AH10124: header size is over the limit allowed by ResponseFieldSize (%d bytes)"
#   then AH01106 "bad HTTP/1.1 header returned by" (modules/proxy/mod_proxy_http.c
#   ap_proxy_read_headers(), ap_proxy_http_process_response()), 502;
# - Envoy: ``502 UPE`` (the HTTP/1 codec's header-size limit, ``max_response_headers_kb``, is a
#   codec error: upstream protocol error, source/common/http/http1/codec_impl.cc);
# - Caddy: Go's "net/http: server response headers exceeded %d bytes; aborted" (net/http
#   transport.go persistConn.readLoop, ``MaxResponseHeaderBytes`` = Caddy's
#   ``max_response_header``), 502 (reverseproxy.go statusError).
# On HTTP backends (the lab backend's ``bigheader`` mode on tcp4, tcp6 and a unix socket):
# Caddy's FastCGI transport has no response-header limit (it has no ``max_response_header``).
BUFFER_FAULT = Fault("big-header", "buffer-too-small", "bigheader", {
    "nginx": r"upstream sent too big header while reading response header from upstream",
    "haproxy": _HA + r"502 \d+ - - PH--",
    "apache": r"AH10124: header size is over the limit allowed by ResponseFieldSize \(\d+ bytes\)",
    "envoy": _ENVOY + r"502 UPE ",
    "caddy": _CADDY + r"net/http: server response headers exceeded \d+ bytes; aborted",
}, traffic=("steady",), backends=HTTP_BACKENDS, limit="header")
FAULTS = (*FAULTS, BUFFER_FAULT)
# The proxy's own request-rate limit answers (the catalog's proxy-rate-limited), 4 requests
# at once against 1 a second and a burst of one:
# - nginx: limit_req's 503 (``limit_req_status``'s default) and "limiting requests, excess:
#   %ui.%03ui by zone \"%V\"" (src/http/modules/ngx_http_limit_req_module.c
#   ngx_http_limit_req_handler());
# - HAProxy: ``http-request deny deny_status 503`` on a stick table's request rate: the
#   httplog line ``fe fe/<NOSRV> ... 503 ... PR--`` (no backend chosen: the frontend's name;
#   8.5 "PR": the proxy blocked the request);
# - Envoy: the local_ratelimit filter's answer (``status`` 503) with the response flag ``RL``
#   (RateLimited, source/extensions/filters/http/local_ratelimit/local_ratelimit.cc).
# All three at 503, nginx's default: the catalog's cause is a limit whose refusals look like an
# unavailable backend (its status_codes [503]); HAProxy's and Envoy's defaults (403 for deny,
# 429 for local_ratelimit) are no 5xx, which why502 (502/503/504) and watch (it opens on 5xx)
# leave alone.  The first score was taken at 429 (stop 47: 0/8 on HAProxy and Envoy).
# The backend kind does not matter (the request never reaches it): tcp4 and tcp6.
RATE_FAULT = Fault("rate-limited", "proxy-rate-limited", "ok", {
    "nginx": r'limiting requests, excess: [\d.]+ by zone "app_limit"',
    "haproxy": r"fe fe/<NOSRV> [-\d/]+ 503 \d+ - - PR--",
    "envoy": _ENVOY + r"503 RL ",
}, traffic=("steady",), backends=("tcp4", "tcp6"), limit="rate", no_cell={
    "apache": "httpd has no request-rate limit of its own: mod_ratelimit limits a response's "
              "bandwidth (rate-limit KiB/s), not requests; mod_evasive and mod_qos are third-party "
              "modules (not in httpd's tree, not installed here)",
    "caddy": "Caddy has no rate limit of its own: the standard build (Debian's package here: no "
             "rate module in `caddy list-modules`) has none; rate_limit is the third-party "
             "mholt/caddy-ratelimit plug-in, built in with xcaddy",
})
FAULTS = (*FAULTS, RATE_FAULT)
# The proxy runs out of connection slots (the catalog's fd-limit): nginx with
# ``worker_connections 3`` (the listening socket and the master's channel hold two,
# ngx_event_process_init() and ngx_add_channel_event(); the client the third), so the upstream
# connect finds none: "%ui worker_connections are not enough" (src/core/ngx_connection.c
# ngx_get_connection()) and a 500, as the lab scenario fd-limit.  The other proxies queue at
# their connection limit rather than answer 5xx (``no_cell``).
FD_FAULT = Fault("fd-limit", "fd-limit", "ok", {
    "nginx": r"\d+ worker_connections are not enough",
}, traffic=("steady",), backends=HTTP_BACKENDS, limit="fd", no_cell={
    "haproxy": "not a 5xx: at its ``maxconn`` HAProxy stops accepting and the connections wait "
               "in the kernel's accept queue (src/listener.c limit_listener()); a maxconn above "
               "what ulimit -n allows is lowered at start (src/haproxy.c), so no request is "
               "refused for it",
    "apache": "not a 5xx: at MaxRequestWorkers the connections wait in the listen backlog "
              "(AH00484 \"server reached MaxRequestWorkers setting\"), queued, not refused",
    "envoy": "not yet: past a listener's connection limit (overload manager "
             "global_downstream_max_connections) Envoy closes the new connection without an "
             "HTTP response (no 5xx, no access-log status); out of file descriptors its "
             "upstream connect would fail as UF, not reproduced here yet",
    "caddy": "not yet: Go's accept loop waits and retries on EMFILE (net/http server.go Serve, "
             "\"http: Accept error: ... retrying in\"): queued; a Caddy whose ulimit -n leaves "
             "no descriptor for the upstream dial (\"socket: too many open files\", 502) needs "
             "a per-cell prlimit, not written yet",
})
FAULTS = (*FAULTS, FD_FAULT)

# The app runs, but not where the proxy connects (stop 47, the catalog's wrong-target; lab
# scenarios wrong-target-ipv6, -loopback, -fpm-socket): the proxy meets a refused port or a
# missing socket path, exactly as for a stopped backend, so the proof is the ``stopped`` fault's
# text, by kind -- nginx ngx_event_connect_peer() (src/event/ngx_event_connect.c) "connect()
# failed (111: Connection refused)" / "connect() to unix:%s failed (2: No such file or
# directory)"; HAProxy's httplog ``503 SC--`` (configuration.txt 8.5, the connection phase);
# Apache proxy_util.c ap_proxy_connect_backend() "(111)Connection refused: AH00957" / AH02454
# for a unix socket; Envoy's ``503 UF`` (UpstreamConnectionFailure,
# source/common/stream_info/utility.cc); Caddy's Go dial error (reverseproxy.go ServeHTTP ->
# net.Dial: "dial tcp ADDR: connect: connection refused", "dial unix PATH: connect: no such file
# or directory").  What makes it a wrong target, not a stopped app, is where the app listens
# instead (``_elsewhere``), per backend kind:
# - tcp4: the proxy names 127.0.0.1:P, the app listens on [::1]:P only; tcp6 the reverse;
# - unix: the proxy names run/app-v1.sock, the app listens on run/app-v2.sock (a deploy's new path);
# - fpm-tcp: the proxy names 127.0.0.1:P (a tutorial's ``fastcgi_pass 127.0.0.1:9000``), the pool
#   listens on a unix socket (Debian's default ``listen = /run/php/phpX.Y-fpm.sock``);
# - fpm-unix: the proxy names run/php8.1-fpm.sock, the pool listens on run/php8.2-fpm.sock (an
#   upgrade);
# - gunicorn, uvicorn, uWSGI, Node: the app server listens on 127.0.0.1:P, the proxy names
#   [::1]:P (what ``localhost`` resolved to first).
WRONG_TARGET_FAULT = Fault("wrong-target", "wrong-target", "ok", FAULTS[0].proof,
                           proof_kind=dict(FAULTS[0].proof_kind), traffic=("steady",),
                           backends=HTTP_BACKENDS + FPM_BACKENDS + APP_BACKENDS)
# An app that dies at start-up, restarted by its supervisor until it gives up (stop 47, the
# catalog's backend-crash-loop; lab scenario backend-crash-loop): a real supervisord
# (``autorestart=true``, ``startretries=2``) whose log says ``exited: app (exit status 1; not
# expected)`` and ``gave up: app entered FATAL state, too many start retries too quickly``
# (supervisor/process.py ``Subprocess.finish()``, ``ProcessStateMonitor``/``give_up()``), given to
# diagnose as a user would (``--app-log``).  Between the starts and after, nothing listens: each
# proxy logs the refused connect of the ``stopped`` fault (the texts above).  The lab's supervised
# backend listens on 127.0.0.1 only (``lab.runtime.supervisor``): tcp4.
CRASH_LOOP_FAULT = Fault("crash-loop", "backend-crash-loop", "fail-start", FAULTS[0].proof,
                         traffic=("steady",), backends=("tcp4",),
                         app_proof={"tcp4": r"gave up: app entered FATAL state"})
FAULTS = (*FAULTS, WRONG_TARGET_FAULT, CRASH_LOOP_FAULT)

# The catalog's causes the matrix has no fault for, each with why (``lab matrix --list`` prints
# them on stderr, as ``Fault.no_cell`` for a proxy): a gap is explained, not silent.  "not yet"
# marks what can be reproduced on loopback with the real proxies and is left for a later stop;
# the rest cannot be here.  Every catalog cause is a fault's or here
# (tests/lab/test_matrix_cells.py).
NOT_IN_MATRIX: dict[str, str] = {
    "backend-oom-killed": "needs root and a memory cgroup for the backend, and the kernel's OOM line "
                          "is machine-wide; reproduced behind nginx by the lab scenario "
                          "backend-oom-killed, not a matrix fault",
    "selinux-denial": "needs an SELinux kernel in enforcing mode (this machine has none)",
    "keepalive-misconfigured": "a config pitfall that makes no 5xx by itself (an upstream keepalive "
                               "pool nginx cannot use): lint's, lab scenario keepalive-misconfigured",
    "port-exhaustion": "needs root and a network namespace whose ephemeral port range is a few ports "
                       "(bounded there only); lab scenario port-exhaustion (nginx)",
    "network-unreachable": "no address but loopback may be a target here; the lab scenario "
                           "network-unreachable needs root and two private network namespaces",
    "no-ready-endpoints": "Kubernetes: needs a cluster (a Service and its endpoints)",
    "terminating-endpoint-routed": "Kubernetes: needs a cluster (a rollout's terminating pods)",
    "readiness-probe-failing": "Kubernetes: needs a cluster (a pod's readiness probe)",
    "backend-ref-unresolved": "Kubernetes: needs a cluster (a Gateway API HTTPRoute)",
    "unexplained-5xx": "the last resort when nothing names a cause: no fault is made to have none",
}

# The PHP script each fault's mode runs as on PHP-FPM (``www/app.php``): the same misbehaviour
# as the Python backend's mode, in PHP.
PHP_APP: dict[str, str] = {
    "slow": f"<?php\nusleep({int(SLOW_DELAY * 1_000_000)});\necho \"done\\n\";\n",
    # a buggy extension segfaults the worker (posix_kill mimics it): FPM logs the child's
    # "exited on signal 11 (SIGSEGV)" and the proxy loses the request mid-way
    "crash": "<?php\nposix_kill(getmypid(), 11);\nsleep(1);\necho \"unreachable\\n\";\n",
    "status502": "<?php\nhttp_response_code(502);\necho \"the app's own bad gateway\\n\";\n",
    "ok": f"<?php\necho str_repeat(\"x\", {BIG_BODY});\n",
    "hello": "<?php\necho \"ok from php\\n\";\n",
    # a request a worker serves in less than the proxy's timeout, but one at a time
    "busy": f"<?php\nusleep({int(BUSY_DELAY * 1_000_000)});\necho \"done\\n\";\n",
    # a deploy removed the function the page calls: PHP's "PHP Fatal error:  Uncaught Error:
    # Call to undefined function" on the worker's stderr (FastCGI stderr records), status 500
    "fatal": "<?php\n// a deploy removed the helper library\nrender_invoice_pdf(7);\n",
}


@dataclass(frozen=True)
class Cell:
    """One combination: a fault behind a proxy, on a backend family, under traffic, with noise."""

    fault: Fault
    proxy: str
    backend: str
    traffic: str
    noise: str

    @property
    def name(self) -> str:
        return f"{self.fault.name}-{self.proxy}-{self.backend}-{self.traffic}-{self.noise}"


def cells() -> list[Cell]:
    """Every cell that makes sense: the product of the dimensions, each fault on the proxies
    whose log can prove it and the traffic shapes that provoke it."""
    return [Cell(f, p, b, t, n) for f in FAULTS for p in f.proxies for b in BACKENDS
            if b in f.backends and (b in FRONTS[p] or f.speak == "http") for t in f.traffic
            for n in NOISE]


def sample(k: int, seed: int, pool: Sequence[Cell] | None = None) -> list[Cell]:
    """``k`` cells (all when there are fewer), stratified: one cell of every proxy x fault pair
    first, then at random; the order is the seed's.

    When the pairs are more than ``k`` (75 pairs for the suite's 40 since stop 46), the ``k``
    are distinct pairs drawn uniformly by the seed: the pairs' one cells are shuffled again, so
    a pair of few cells (keepalive-close behind Caddy: 4) is as likely to be in as one of many
    (crash behind Caddy: 36), which a draw in the order of the shuffled cells was not."""
    rng = random.Random(seed)
    pool = list(cells() if pool is None else pool)
    rng.shuffle(pool)
    picked: list[Cell] = []
    seen: set[tuple[str, str]] = set()
    for cell in pool:
        if (cell.proxy, cell.fault.name) not in seen:
            seen.add((cell.proxy, cell.fault.name))
            picked.append(cell)
    rng.shuffle(picked)
    rest = [c for c in pool if c not in picked]
    picked += rest[: max(0, k - len(picked))]
    return picked[:k] if k < len(picked) else picked


def shard_of(cell: Cell, count: int) -> int:
    """The shard (1..``count``) that ``cell`` belongs to when the matrix is cut in ``count``.

    Why a hash of the cell's name, not its place in the list: a cell keeps its shard across
    runs, seeds, machines and filters (``--proxy`` and the like cut the same shards), and a cell
    added to the matrix later lands in one shard without moving any other, so shards run on
    different days still add up to the whole matrix (``bench/matrix.py --merge``).  The shards
    are uneven by a few cells (a hash, not a deal); every cell is in exactly one."""
    if count < 1:
        raise ValueError("the shard count must be 1 or more")
    digest = hashlib.sha256(cell.name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def shard(pool: Iterable[Cell], index: int, count: int) -> list[Cell]:
    """The cells of ``pool`` in shard ``index`` of ``count`` (1-based), in ``pool``'s order."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: K must be between 1 and N")
    return [c for c in pool if shard_of(c, count) == index]


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N), 1 <= K <= N; ValueError with the reason otherwise."""
    m = re.fullmatch(r"\s*(\d{1,4})\s*/\s*(\d{1,4})\s*", text)
    if not m:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 3/16")
    index, count = int(m.group(1)), int(m.group(2))
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text!r}: K must be between 1 and N")
    return index, count


@dataclass
class CellResult:
    """What one cell did: whether the fault showed in the proxy's log, what diagnose said."""

    cell: str
    proxy: str
    fault: str
    backend: str
    traffic: str
    noise: str
    expected: str
    reproduced: bool = False
    got: str | None = None
    others: list[str] = field(default_factory=list)
    watched: str | None = None  # watch's cause on the same window (``WATCHED`` proxies)
    confidence: float | None = None
    exit_code: int | None = None
    healthy: bool | None = None
    statuses: list[int | None] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def right(self) -> bool:
        return self.reproduced and (self.got or HEALTHY) == self.expected and not self.violations

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "right": self.right}


def _host(family: str) -> str:
    return "::1" if family == "tcp6" else "127.0.0.1"


# the path of the lab app (``lab.runtime.appservers``) that shows each fault's mode on a real app
# server; longer than the proxy's timeout where the proxy is to time out, longer than the app
# server's own limit (1 s) where the app server is to kill its worker
APP_PATH: dict[str, str] = {
    "crash": "/orders/crash", "slow": f"/orders/slow/{SLOW_DELAY}",
    "status502": "/orders/status/502", "worker-timeout": "/orders/slow/4",
    "busy": f"/orders/slow/{BUSY_DELAY}",
}
# the app server's own config per kind: its time limit 1 s for a worker-timeout fault, else the
# usual (gunicorn's default 30 s, two workers so a slow request does not block the next)
_APP_CONF: dict[tuple[str, bool], str] = {
    ("gunicorn", False): "workers = 2\ntimeout = 30\n",
    ("gunicorn", True): "workers = 1\ntimeout = 1\n",
    ("uwsgi", False): "processes = 2\n",
    ("uwsgi", True): "processes = 1\nharakiri = 1\n",
}


def _app_server(stack: Stack, cell: Cell, run: ScenarioRun) -> str:
    """Start the cell's real app server; its log (and config) become the run's evidence, as a
    user gives them (``--app-log``, ``--app-conf``).  Its ``127.0.0.1:port``."""
    from why502.lab.runtime.appservers import start_gunicorn, start_node, start_uvicorn, start_uwsgi

    limit = cell.fault.mode == "worker-timeout"
    if cell.backend == "gunicorn":
        # a full pool: ``workers`` sync workers and a listen backlog of 1 (gunicorn's
        # ``backlog``, 2048 by default: docs.gunicorn.org settings)
        conf_text = (f"workers = {cell.fault.workers}\nbacklog = 1\ntimeout = 30\n" if cell.fault.workers
                     else _APP_CONF[("gunicorn", limit)])
        _proc, port, conf = start_gunicorn(stack, conf_text)
        run.app_logs.append(stack.root / "logs" / "gunicorn.log")
    elif cell.backend == "uvicorn":  # its log is its stderr; its settings are its command line
        _proc, port, _app = start_uvicorn(stack)
        run.app_logs.append(stack.root / "logs" / "uvicorn.out")
        return f"127.0.0.1:{port}"
    elif cell.backend == "uwsgi":
        _proc, port, conf = start_uwsgi(stack, _APP_CONF[("uwsgi", limit)])
        run.app_logs.append(stack.root / "logs" / "uwsgi.log")
    else:  # Node: keepAliveTimeout its default 5 s; an uncaught exception's stack on stderr
        _proc, port, conf = start_node(stack, keepalive_ms=5000)
        run.app_logs.append(stack.root / "logs" / "node.out")
    run.app_confs.append(conf)
    return f"127.0.0.1:{port}"


def _backend(stack: Stack, cell: Cell, run: ScenarioRun) -> str:
    """Start the cell's backend (none for a stopped one) and return its target: ``host:port``,
    ``[::1]:port``, or ``unix:PATH`` (a path nothing listens on when stopped)."""
    fault, kind = cell.fault, cell.backend
    if fault.socket_mode is not None:  # the workers (another user) reach the socket's directory
        os.chmod(stack.root, 0o711)  # noqa: S103 - as the socket-permissions lab scenario
    if kind in APP_BACKENDS:
        return _app_server(stack, cell, run)
    if kind in FPM_BACKENDS:
        if fault.mode is None:
            return (f"unix:{stack.p.run / 'php-fpm.sock'}" if kind == "fpm-unix"
                    else f"127.0.0.1:{dead_port()}")
        # listen.mode 0666: Apache's children run as another user (www-data) than the lab
        # (a socket-permissions fault: root's, its mode).
        # access.log: the pool's own record of each request it finished (FPM's default
        # access.format), given to diagnose as a user who has one would (--app-log)
        access = stack.p.root / "logs" / "php-fpm.access.log"
        mode = {"listen.mode": "0666"} if fault.socket_mode is None else {
            "listen.owner": "root", "listen.group": "root", "listen.mode": f"{fault.socket_mode:04o}"}
        if fault.workers:  # a full pool: a fixed number of children, a backlog of 1
            mode |= {"pm": "static", "pm.max_children": str(fault.workers), "listen.backlog": "1"}
        pool = stack.add_php_fpm({**mode, "access.log": str(access)},
                                 tcp=kind == "fpm-tcp", scripts={"app.php": PHP_APP[fault.mode]})
        run.app_logs.append(access)
        return pool.fastcgi_pass
    if fault.mode is None:
        return (f"unix:{stack.p.run / 'app.sock'}" if kind == "unix"
                else f"[::1]:{dead_port('::1')}" if kind == "tcp6" else f"127.0.0.1:{dead_port()}")
    if fault.speak == "fastcgi":  # the script a FastCGI server would run (Caddy's php_fastcgi
        stack.write_file("www/app.php", PHP_APP["hello"])  # looks for it before it passes on)
    backend = stack.add_backend(fault.mode, host=_host(kind), unix=kind == "unix", header_bytes=BIG_HEADER,
                                delay=SLOW_DELAY if fault.mode == "slow" else 0.0,
                                idle_timeout=KEEPALIVE_IDLE,
                                body_bytes=BIG_BODY if fault.mode == "ok" and fault.cause is None else 0)
    if fault.socket_mode is not None and backend.unix:  # root's socket, not the workers'
        os.chmod(backend.unix, fault.socket_mode)
    return backend.address


def _path(cell: Cell) -> str:
    """The path the clients ask for: PHP-FPM runs ``www/app.php``; a real app server shows the
    fault's mode on a path of its app (``APP_PATH``)."""
    if cell.backend in APP_BACKENDS and cell.fault.mode in APP_PATH:
        return APP_PATH[cell.fault.mode]
    return "/app.php" if cell.backend in FPM_BACKENDS or cell.fault.fastcgi(cell.backend) else "/orders"


def _start_proxy(stack: Stack, cell: Cell, target: str, run: ScenarioRun, more: Sequence[str] = ()) -> None:
    """The proxy in front of ``target``, with a short response timeout, in its own words.

    A proxy whose lab plug-in has a ``front(stack, target, timeout=, fastcgi_root=)`` (Envoy,
    Caddy) is started by it, and its evidence paths (config, own log, access log) become the
    run's; nginx, HAProxy and Apache are written here (their slow-client and keep-alive
    variants).  ``more``: the group's other targets (``Fault.group_hold``), each proxy's group
    with its failure accounting (``_group_backend`` below)."""
    fpm = cell.fault.fastcgi(cell.backend)
    tls = cell.fault.speak == "tls"
    scheme = "https" if tls else "http"
    front = getattr(lab_plugin(cell.proxy), "front", None)
    if front is not None:
        extra: dict[str, object] = ({"more": tuple(more), "fail_duration": cell.fault.group_hold}
                                    if more else {})
        extra |= _limit_lines(cell)  # the proxy's own limit (stop 47), its plug-in's keywords
        if cell.fault.workers and cell.proxy == "envoy":  # its circuit breaker at the pool's size
            extra["max_requests"] = cell.fault.workers
        elif cell.fault.workers:  # Caddy: the connect bounded as the read (3 s by default)
            extra["dial_timeout"] = cell.fault.proxy_timeout
        run.config, run.error_log, run.access_log = front(
            stack, target, timeout=cell.fault.proxy_timeout, fastcgi_root=stack.p.www if fpm else None,
            **({"tls": True} if tls else {}), **extra)
        return
    if more:
        _group_backend(stack, cell, (target, *more))
        return
    sock = target.removeprefix("unix:") if target.startswith("unix:") else ""
    www = stack.p.www
    slow_client = cell.traffic in CLIENT_TRAFFIC
    timeout = cell.fault.proxy_timeout
    # a socket the workers may not open: they run as another user than its owner (root)
    user = "nobody" if cell.fault.socket_mode is not None else None
    # a full pool: the connect bounded as the read (nginx's connect timeouts are 60 s by default:
    # a connect the full backlog never answers would hold the cell for a minute)
    connect = f"{'fastcgi' if fpm else 'proxy'}_connect_timeout {timeout:g}s;\n" if cell.fault.workers else ""
    if cell.proxy == "nginx":
        # a slow client's timeouts are logged at info (ngx_http_request_body.c, ngx_http_upstream.c)
        level = "info" if slow_client else "warn"
        client = (f"client_body_timeout {CLIENT_TIMEOUT}s;\nsend_timeout {CLIENT_TIMEOUT}s;\n"
                  if slow_client else "")
        if fpm:
            stack.start_nginx(server(stack, client + php_location(
                stack, target, f"fastcgi_read_timeout {timeout:g}s;\n{connect}")), error_level=level,
                worker_user=user)
            return
        address = f"unix:{sock}:" if sock else target
        if slow_client:
            stack.start_nginx(server(stack, client + f"location / {{\n    proxy_pass {scheme}://{address};\n"
                                                     f"    proxy_read_timeout {timeout:g}s;\n}}\n"),
                              error_level=level)
        elif cell.fault.keepalive:
            stack.start_nginx(
                f"upstream app {{\n    server {address};\n    keepalive 8;\n    keepalive_timeout 60s;\n}}\n"
                + server(stack, f"location / {{\n    proxy_pass http://app;\n    proxy_http_version 1.1;\n"
                                f"    proxy_set_header Connection \"\";\n"
                                f"    proxy_read_timeout {timeout:g}s;\n}}\n"))
        else:
            limit = _limit_lines(cell)  # the proxy's own limit (stop 47)
            stack.start_nginx(str(limit.get("http", "")) + server(
                stack, f"location / {{\n    proxy_pass {scheme}://{address};\n"
                       f"    proxy_read_timeout {timeout:g}s;\n{connect}{limit.get('location', '')}}}\n"),
                worker_user=user, worker_connections=int(str(limit.get("worker_connections", 64))))
    elif cell.proxy == "haproxy":
        # retries 0: a refused connect is otherwise retried after 1 s (backend.c); FastCGI
        # through an fcgi-app section (configuration.txt 10.1, HAProxy 2.1+)
        address = f"unix@{sock}" if sock else target
        defaults = f"retries 0\ntimeout server {timeout:g}s"
        frontend = str(_limit_lines(cell).get("frontend", ""))  # the proxy's own limit (stop 47)
        # a full pool: the server's maxconn at the pool's size, the rest wait in HAProxy's queue
        # for ``timeout queue`` (configuration.txt 5.2 ``maxconn``, 4.2 ``timeout queue``)
        maxconn = f" maxconn {cell.fault.workers}" if cell.fault.workers else ""
        if cell.fault.workers:
            defaults += f"\ntimeout queue {timeout:g}s\ntimeout connect {timeout:g}s"
        if cell.fault.keepalive:
            # ``http-reuse always``: the default ``safe`` never sends a client's first request on
            # an idle server connection (configuration.txt 4.2 "http-reuse"), and a later one that
            # fails on it ends in a silent close with no log line (src/http_ana.c
            # http_wait_for_response -> abort_keep_alive); fault-matrix.md stop 43
            defaults += "\nhttp-reuse always"
        if slow_client:  # the request must be whole before it goes on (http-buffer-request)
            defaults += f"\ntimeout client {CLIENT_TIMEOUT}s\ntimeout http-request {CLIENT_TIMEOUT}s"
            frontend = "option http-buffer-request"
        if fpm:
            # ``no option keep-conn``: HAProxy asks FastCGI apps to keep the connection by default
            # (src/fcgi-app.c: ``curapp->flags = FCGI_APP_FL_KEEP_CONN``), and each idle kept
            # connection holds a PHP-FPM child in a blocking read; with the lab's two children
            # the third request waits in FPM's backlog until ``timeout server`` (504 sH), a second
            # fault inside the cell's (haproxy/haproxy#2936, "works as designed").
            stack.start_haproxy(f"use-fcgi-app php\nserver web1 {address} proto fcgi{maxconn}",
                                defaults=defaults, frontend=frontend,
                                sections=(f"fcgi-app php\n    docroot {www}\n    index app.php\n"
                                          "    no option keep-conn"))
        else:  # TLS: the certificate not verified (``ssl verify none``, configuration.txt 5.2)
            stack.start_haproxy(f"server web1 {address}{maxconn}" + (" ssl verify none" if tls else ""),
                                defaults=defaults, frontend=frontend)
    elif cell.proxy == "apache":
        # Timeout: the core's wait on a client read or write (core.html#timeout)
        head = f"ProxyTimeout {timeout:g}\n" + (f"Timeout {CLIENT_TIMEOUT}\n" if slow_client else "")
        if fpm:
            url = f"unix:{sock}|fcgi://localhost{www}/$1" if sock else f"fcgi://{target}{www}/$1"
            stack.start_apache(head + f'ProxyPassMatch "^/(.*\\.php)$" "{url}"\n')
        else:
            url = f"unix:{sock}|{scheme}://localhost/" if sock else f"{scheme}://{target}/"
            # TLS to the backend: mod_ssl's proxy engine, the certificate not verified
            # (mod_ssl.html#sslproxyengine, #sslproxyverify, #sslproxycheckpeername)
            ssl = ("SSLProxyEngine on\nSSLProxyVerify none\nSSLProxyCheckPeerName off\n"
                   "SSLProxyCheckPeerExpire off\n" if tls else "")
            stack.start_apache(head + ssl + f"ProxyPass / {url}\n", modules=("ssl",) if tls else ())
    else:  # pragma: no cover - FAULTS only names the proxies above
        raise LabError(f"the matrix has no runtime for {cell.proxy}")


def _limit_lines(cell: Cell) -> dict[str, object]:
    """The config that sets the fault's own limit of the proxy (``Fault.limit``, stop 47), by
    where it goes: nginx ``http`` (the http block), ``location``, ``worker_connections``;
    HAProxy ``frontend``; Envoy's and Caddy's ``front()`` keywords (``cluster_extra``,
    ``filters``, ``transport_extra``).  Empty for a fault without one.

    - rate: nginx ``limit_req_zone``/``limit_req`` (ngx_http_limit_req_module: ``rate``, a
      ``burst`` of one, ``nodelay``; 503 by default, ``limit_req_status``); HAProxy a stick
      table of each source's request rate and ``http-request deny deny_status 503`` past it
      (configuration.txt 4.2 ``http-request deny``, 7.3.3 ``sc_http_req_rate``); Envoy the
      ``local_ratelimit`` HTTP filter's token bucket (extensions/filters/http/local_ratelimit/v3,
      its ``status`` 503: 429 by default).
    - header: nginx, HAProxy and Apache at their defaults (``proxy_buffer_size`` one page,
      ``tune.bufsize`` 16384, ``ResponseFieldSize`` 8190); Envoy's cluster
      ``max_response_headers_kb`` (60 KiB by default: config/core/v3/protocol.proto) and Caddy's
      transport ``max_response_header`` (Go's 10 MB by default) set to 16 KiB, HAProxy's.
    """
    limit, proxy = cell.fault.limit, cell.proxy
    if limit == "rate" and proxy == "nginx":
        return {"http": f"limit_req_zone $binary_remote_addr zone=app_limit:1m rate={RATE_PER_S}r/s;\n",
                "location": "    limit_req zone=app_limit burst=1 nodelay;\n"}
    if limit == "rate" and proxy == "haproxy":
        return {"frontend": "stick-table type ip size 100k expire 30s store http_req_rate(10s)\n"
                            "http-request track-sc0 src\n"
                            "http-request deny deny_status 503 if "
                            f"{{ sc_http_req_rate(0) gt {RATE_PER_S + 1} }}\n"}
    if limit == "rate" and proxy == "envoy":
        on = "{{default_value: {{numerator: 100, denominator: HUNDRED}}, runtime_key: {}}}"
        return {"filters": ("- name: envoy.filters.http.local_ratelimit\n  typed_config:\n"
                            '    "@type": type.googleapis.com/envoy.extensions.filters.http.'
                            "local_ratelimit.v3.LocalRateLimit\n    stat_prefix: app_limit\n"
                            f"    token_bucket: {{max_tokens: {RATE_PER_S + 1}, tokens_per_fill: "
                            f"{RATE_PER_S}, fill_interval: 1s}}\n"
                            "    status: {code: ServiceUnavailable}\n"
                            f"    filter_enabled: {on.format('rl_enabled')}\n"
                            f"    filter_enforced: {on.format('rl_enforced')}\n",)}
    if limit == "fd" and proxy == "nginx":
        return {"worker_connections": 3}
    if limit == "header" and proxy == "envoy":
        return {"cluster_extra": "typed_extension_protocol_options:\n"
                                 "  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n"
                                 '    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.'
                                 "HttpProtocolOptions\n"
                                 "    common_http_protocol_options: {max_response_headers_kb: 16}\n"
                                 "    explicit_http_config: {http_protocol_options: {}}\n"}
    if limit == "header" and proxy == "caddy":
        return {"transport_extra": "max_response_header 16KB"}
    return {}


def _group_backend(stack: Stack, cell: Cell, targets: Sequence[str]) -> None:
    """nginx, HAProxy or Apache in front of a group of ``targets`` whose failure accounting
    holds a failed target out for ``Fault.group_hold`` s (see ``GROUP_FAULT``).

    nginx: ``max_fails=1 fail_timeout=`` per server (its defaults are 1 and 10 s:
    ngx_http_upstream_module.html#server); a group of two, as ``peers->single`` skips the
    accounting (ngx_http_upstream_round_robin.c).  HAProxy: active checks every 200 ms, DOWN
    after one failure, UP again after ``rise`` good checks (configuration.txt 5.2 ``inter``,
    ``fall``, ``rise``), so ``rise`` x ``inter`` is how long a recovered server stays out.
    Apache: ``retry=`` per member (mod_proxy.html#proxypass: how long a worker in error is
    not retried, 60 s by default) and ``forcerecovery=Off`` (else mod_proxy_balancer forces
    the members back when all are in error)."""
    hold = cell.fault.group_hold
    timeout = cell.fault.proxy_timeout
    if cell.proxy == "nginx":
        servers = "".join(f"    server {t} max_fails=1 fail_timeout={hold:g}s;\n" for t in targets)
        stack.start_nginx(f"upstream app {{\n{servers}}}\n" + server(
            stack, f"location / {{\n    proxy_pass http://app;\n    proxy_read_timeout {timeout:g}s;\n}}\n"))
    elif cell.proxy == "haproxy":
        inter = 0.2
        rise = max(2, int(hold / inter))
        stack.start_haproxy("".join(f"server web{n} {t} check inter {inter * 1000:g} fall 1 rise {rise}\n"
                                    for n, t in enumerate(targets, 1)),
                            defaults=f"retries 0\ntimeout server {timeout:g}s")
    elif cell.proxy == "apache":
        members = "".join(f"    BalancerMember http://{t} retry={hold:g}\n" for t in targets)
        stack.start_apache(f"ProxyTimeout {timeout:g}\n<Proxy balancer://app>\n{members}"
                           "    ProxySet forcerecovery=Off\n</Proxy>\nProxyPass / balancer://app/\n")
    else:  # pragma: no cover - the edges' groups are their plug-ins' front(more=)
        raise LabError(f"the matrix has no group runtime for {cell.proxy}")


def _group(stack: Stack, cell: Cell, run: ScenarioRun) -> None:
    """A group of two targets on the cell's loopback family: both down (ports kept dead,
    ``dead_port``) while three requests fail, 0.2 s apart, then both back (the lab backend on those ports)
    for three more, which the proxy's marking still refuses (``GROUP_FAULT``)."""
    host = _host(cell.backend)
    ports = [dead_port(host) for _ in range(2)]
    targets = [f"[{host}]:{p}" if ":" in host else f"{host}:{p}" for p in ports]
    _start_proxy(stack, cell, targets[0], run, more=targets[1:])
    # no single failing target: the step names the group (``_cell_port`` finds none to check)
    run.steps.append(f"{cell.proxy} -> group [{', '.join(targets)}] ({cell.backend}, nothing listens), "
                     "then both back")
    if cell.proxy == "haproxy":  # its checks, not the requests, take the servers DOWN
        stack.wait_for_log(stack.p.root / "logs" / "haproxy.log", "has no server available", timeout=5.0)
    # a pause after each: Envoy's outlier detector ejects on its main thread, after the failed
    # request (outlier_detection_impl.cc), so back-to-back requests all reach the first
    # remaining host before it is ejected (seen: the second endpoint never ejected)
    for _ in range(3):
        run.record("down", stack.requests(_path(cell), count=1))
        time.sleep(0.2)
    for port in ports:
        stack.add_backend("ok", host=host, port=port)
    run.steps.append(f"both targets answer again: {', '.join(targets)}")
    run.record("back", stack.requests(_path(cell), count=3))


def _elsewhere(stack: Stack, cell: Cell, run: ScenarioRun) -> tuple[str, str]:
    """Start the app where the proxy will not look (``WRONG_TARGET_FAULT``): (the target the
    proxy names, where the app listens).  The named TCP port is kept dead (``dead_port``) on
    the proxy's family while the app binds the same port on the other one."""
    kind = cell.backend
    if kind in ("tcp4", "tcp6"):
        named, real = ("127.0.0.1", "::1") if kind == "tcp4" else ("::1", "127.0.0.1")
        port = dead_port(named)
        app = stack.add_backend("ok", host=real, port=port)
        return (f"[::1]:{port}" if named == "::1" else f"127.0.0.1:{port}"), app.address
    if kind == "unix":
        app = stack.add_backend("ok", name="app-v2", unix=True)
        return f"unix:{stack.p.run / 'app-v1.sock'}", app.address
    if kind in FPM_BACKENDS:
        access = stack.p.root / "logs" / "php-fpm.access.log"
        listen = str(stack.p.run / ("php-fpm.sock" if kind == "fpm-tcp" else "php8.2-fpm.sock"))
        pool = stack.add_php_fpm({"listen": listen, "listen.mode": "0666", "access.log": str(access)},
                                 scripts={"app.php": PHP_APP["hello"]})
        run.app_logs.append(access)
        named = f"127.0.0.1:{dead_port()}" if kind == "fpm-tcp" else f"unix:{stack.p.run / 'php8.1-fpm.sock'}"
        return named, pool.fastcgi_pass
    real = _app_server(stack, cell, run)  # 127.0.0.1:P
    return f"[::1]:{real.rsplit(':', 1)[1]}", real


def _elsewhere_or_looping(stack: Stack, cell: Cell, run: ScenarioRun) -> None:
    """The stop-47 faults: the app running elsewhere (``_elsewhere``), steady traffic; or an app
    under supervisord that dies at start-up (``CRASH_LOOP_FAULT``): requests every 0.7 s until
    supervisord gives up (its backoff is 1 s, 2 s between the three starts, supervisor/process.py;
    bounded at 15 s), then two more, as the lab scenario backend-crash-loop."""
    if cell.fault is WRONG_TARGET_FAULT:
        target, real = _elsewhere(stack, cell, run)
        _start_proxy(stack, cell, target, run)
        run.steps.append(f"{cell.proxy} -> {target} ({cell.backend}, the app listens on {real}), "
                         f"{cell.traffic} traffic")
        run.record(cell.traffic, _traffic(stack, cell.traffic, 0.5, _path(cell)))
        return
    app = stack.add_supervised_backend("fail-start", name="app", startretries=2, startsecs=5)
    run.app_logs.insert(0, stack.supervisor_log)  # the "app" log the proof reads
    _start_proxy(stack, cell, app.address, run)
    run.steps.append(f"{cell.proxy} -> {app.address} ({cell.backend}, dies at start-up under "
                     "supervisord: autorestart=true, startretries=2)")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        run.record("loop", [stack.request(_path(cell))])
        if "gave up:" in stack.supervisor_log.read_text(errors="replace"):
            break
        time.sleep(0.7)
    run.steps.append("supervisord gave up: the program is in FATAL state")
    run.record(cell.traffic, stack.requests(_path(cell), count=2))


def _slow_client(port: int, shape: str, path: str) -> Response:
    """One slow client on 127.0.0.1:``port`` (raw socket: the lab client reads and writes at full
    speed).  slow-send: a POST announcing 64 KiB that sends 1 KiB, stalls ``CLIENT_STALL`` s and
    hangs up; slow-read: a GET that reads 4 KiB of the (large) answer, stalls, hangs up.  The
    status is what the proxy answered in that time, None when it answered nothing."""
    start = time.monotonic()
    method = "POST" if shape == "slow-send" else "GET"
    head = (f"{method} {path} HTTP/1.1\r\nHost: lab.example\r\nConnection: close\r\n"
            + ("Content-Length: 65536\r\nContent-Type: application/octet-stream\r\n"
               if method == "POST" else "") + "\r\n").encode()
    got = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_STALL + 5) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(head + (b"x" * 1024 if method == "POST" else b""))
            if method == "GET":
                got = sock.recv(4096)
            time.sleep(CLIENT_STALL)
            if method == "POST":
                sock.settimeout(1.0)
                with contextlib.suppress(OSError):
                    got = sock.recv(4096)
    except OSError as err:
        return Response(status=None, error=str(err), elapsed=time.monotonic() - start)
    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    return Response(status=int(m.group(1)) if m else None, body=got[:200],
                    elapsed=time.monotonic() - start)


def _traffic(stack: Stack, shape: str, idle_gap: float, path: str = "/orders") -> list[Response]:
    """Bounded requests in ``shape`` (at most 8, each with the stack's short client timeout)."""
    if shape in CLIENT_TRAFFIC:  # two slow clients at once, then one ordinary request
        with ThreadPoolExecutor(2) as pool:
            out = list(pool.map(lambda _: _slow_client(stack.nginx_port, shape, path), range(2)))
        return [*out, stack.request(path)]
    if shape == "steady":
        return stack.requests(path, count=4)
    if shape == "concurrent":
        return stack.requests(path, count=CONCURRENT, concurrency=CONCURRENT)
    if shape == "bursty":
        out = stack.requests(path, count=3, concurrency=3)
        time.sleep(idle_gap)
        return out + stack.requests(path, count=3, concurrency=3)
    out = []
    for _ in range(4):  # post: one at a time, idle between, a body the proxy must not replay
        out.append(stack.request(path, method="POST", body=b"x" * 2048))
        time.sleep(idle_gap)
    return out


def _dns_nxdomain(stack: Stack, cell: Cell, run: ScenarioRun) -> None:
    """``DNS_FAULT``: the lab's resolver (NXDOMAIN to all) on the cell's loopback family, and the
    proxy resolving ``DNS_NAME`` through it per request: nginx's ``resolver`` with a variable
    ``proxy_pass`` (as the lab scenario dns-unresolvable), Caddy's dynamic A upstreams with
    ``resolvers``.  No other resolver is configured (nginx's ``resolver`` replaces the system's
    for variables; Caddy's Dial goes only to ``resolvers``)."""
    host = _host(cell.backend)
    dns = stack.add_backend("dns-nxdomain", name="dns", host=host)
    where = f"[{host}]:{dns.port}" if ":" in host else f"{host}:{dns.port}"
    timeout = cell.fault.proxy_timeout
    if cell.proxy == "nginx":
        # ipv6=off: one question (A) per name, as the Caddy cell's ``dynamic a``
        stack.start_nginx(server(stack, f"resolver {where} ipv6=off valid=10s;\nresolver_timeout 1s;\n"
                                        f"location / {{\n    set $app_host \"{DNS_NAME}\";\n"
                                        f"    proxy_pass http://$app_host:8080;\n"
                                        f"    proxy_read_timeout {timeout:g}s;\n}}\n"))
    elif cell.proxy == "caddy":
        caddy = lab_plugin("caddy")
        caddy.start_caddy(stack, f"reverse_proxy {{\n\tdynamic a {DNS_NAME} 8080 {{\n"
                                 f"\t\tresolvers udp/{where}\n\t\tdial_timeout 1s\n\t}}\n"
                                 f"\ttransport http {{\n\t\tresponse_header_timeout {timeout:g}s\n\t}}\n}}\n")
        run.config, run.error_log, run.access_log = caddy.caddy_paths(stack)
    elif cell.proxy == "haproxy":
        _haproxy_dns(stack, cell, run)
        return
    else:  # pragma: no cover - DNS_FAULT names only the proxies above
        raise LabError(f"the matrix has no resolver runtime for {cell.proxy}")
    run.steps.append(f"{cell.proxy} -> {DNS_NAME}:8080 (resolved per request by the lab's resolver "
                     f"{where}: NXDOMAIN), {cell.traffic} traffic")
    run.record(cell.traffic, _traffic(stack, cell.traffic, 0.5, _path(cell)))


def _haproxy_dns(stack: Stack, cell: Cell, run: ScenarioRun) -> None:
    """HAProxy's ``server web1 NAME:PORT resolvers default init-addr none``: the name resolved
    at run time by the ``resolvers`` section's one nameserver, the lab's (``dns-vanish``: the A
    record 127.0.0.1, where the backend runs, until the record is deleted, then NXDOMAIN).
    ``init-addr none``: no resolution at start through libc (the host's resolver, which a cell
    may not ask; configuration.txt 5.2 ``init-addr``, the default ``last,libc``).  The section
    is named ``default``, so HAProxy creates no ``default`` section of its own from
    /etc/resolv.conf (2.6: ``resolvers_create_default()``, src/resolvers.c).  The cell waits
    until HAProxy has the address, deletes the record, waits for HAProxy's "is going DOWN for
    maintenance (DNS NX status)" (``hold nx`` 1 s), then sends the traffic."""
    host = _host(cell.backend)
    deleted = stack.p.run / "dns-record-deleted"
    dns = stack.add_backend("dns-vanish", name="dns", host=host, body_file=str(deleted))
    where = f"[{host}]:{dns.port}" if ":" in host else f"{host}:{dns.port}"
    backend = stack.add_backend("ok")
    port = backend.address.rpartition(":")[2]
    stack.start_haproxy(f"server web1 {DNS_NAME}:{port} resolvers default init-addr none "
                        "resolve-prefer ipv4",
                        defaults=f"retries 0\ntimeout server {cell.fault.proxy_timeout:g}s",
                        sections=(f"resolvers default\n    nameserver lab {where}\n    resolve_retries 1\n"
                                  "    timeout resolve 200ms\n    timeout retry 200ms\n"
                                  "    hold valid 1s\n    hold nx 1s\n    hold obsolete 1s"))
    log = stack.p.root / "logs" / "haproxy.log"
    stack.wait_for_log(log, "changed its IP from", timeout=10.0)
    deleted.touch()
    run.steps.append(f"{cell.proxy} -> {DNS_NAME}:{port} (the name in a resolvers section whose "
                     f"nameserver is the lab's {where}; the record deleted: NXDOMAIN), "
                     f"{cell.traffic} traffic")
    stack.wait_for_log(log, "DNS NX status", timeout=10.0)
    run.record(cell.traffic, _traffic(stack, cell.traffic, 0.5, _path(cell)))


def _self_loop(stack: Stack, cell: Cell, run: ScenarioRun) -> None:
    """``MISROUTE_FAULT``: the backend runs, but ``proxy_pass`` names nginx's own listen address."""
    backend = stack.add_backend("ok", host=_host(cell.backend))
    if cell.proxy != "nginx":  # pragma: no cover - MISROUTE_FAULT names only nginx
        raise LabError(f"the matrix has no self-loop runtime for {cell.proxy}")
    stack.start_nginx(server(stack, f"location / {{\n    proxy_pass http://{stack.listen};\n"
                                    f"    proxy_read_timeout {cell.fault.proxy_timeout:g}s;\n}}\n"))
    run.steps.append(f"{cell.proxy} -> {stack.listen} (its own listen address; the backend "
                     f"{backend.address} runs unasked), {cell.traffic} traffic")
    run.record(cell.traffic, _traffic(stack, cell.traffic, 0.5, _path(cell)))


# faults whose cell is built by a function of its own (stop 47), not ``_backend`` + ``_start_proxy``
_OWN_BUILD: dict[str, Callable[[Stack, Cell, ScenarioRun], None]] = {
    DNS_FAULT.name: _dns_nxdomain, MISROUTE_FAULT.name: _self_loop}


def build(cell: Cell) -> Callable[[Stack, ScenarioRun], None]:
    """The scenario function of ``cell``: start the backend and the proxy, send the traffic."""

    def provoke(stack: Stack, run: ScenarioRun) -> None:
        fault = cell.fault
        if fault.name in _OWN_BUILD:
            _OWN_BUILD[fault.name](stack, cell, run)
            return
        if fault.group_hold:
            _group(stack, cell, run)
            return
        if fault in (WRONG_TARGET_FAULT, CRASH_LOOP_FAULT):  # stop 47
            _elsewhere_or_looping(stack, cell, run)
            return
        target = _backend(stack, cell, run)
        _start_proxy(stack, cell, target, run)
        run.steps.append(f"{cell.proxy} -> {target} ({cell.backend}, {fault.mode or 'nothing listens'}), "
                         f"{cell.traffic} traffic")
        # the keep-alive race needs the idle gap to be longer than the backend's idle timeout
        gap = KEEPALIVE_IDLE * 2 if fault.keepalive else 0.5
        run.record(cell.traffic, _traffic(stack, cell.traffic, gap, _path(cell)))

    return provoke


def _diagnose_argv(run: ScenarioRun) -> list[str]:
    """``why502 diagnose`` as a user would type it for this run's files (live checks on)."""
    argv = [sys.executable, "-m", "why502", "diagnose", "--format", "json"]
    if run.proxy == "nginx":
        argv += ["--config", str(run.nginx_conf), "--access-log", str(run.access_log)]
    else:
        argv += ["--proxy", run.proxy, "--config", str(run.config)]
        if run.access_log is not None:
            argv += ["--access-log", str(run.access_log)]
    if run.error_log is not None:  # Envoy has none: its access log's flags are its evidence
        argv += ["--error-log", str(run.error_log)]
    argv += ["--kernel-log", str(run.kernel_log)]
    if run.fpm_log is not None:  # PHP-FPM's own log, as a user with PHP-FPM gives it
        argv += ["--fpm-log", str(run.fpm_log)]
    argv += [a for path in run.app_logs for a in ("--app-log", str(path))]  # an app server's own
    argv += [a for path in run.app_confs for a in ("--app-conf", str(path))]
    return argv


# The proxies whose cells also run ``watch`` on the same logs (issue 25: the same top cause
# through diagnose and watch, on every cell).  nginx joined at stop 47: its cells had been left to
# the recorded runs of tests/watch, and the first nginx cells watched found a real divergence
# (a bad status line: nginx relays it as HTTP/0.9, status 009, no 5xx, and watch stayed healthy).
WATCHED: tuple[str, ...] = ("nginx", "haproxy", "apache", "envoy", "caddy")
WATCH_SECONDS = 90  # watch's bound when clients got 5xx (it stops at its first incident)
WATCH_QUIET_SECONDS = 6  # and when they got none: no incident is to open, only time is spent


def _watch_argv(run: ScenarioRun, served_5xx: bool) -> list[str]:
    """``why502 watch`` on the same files as ``diagnose`` (read from their start, live checks
    on), with rules that open an incident on the first 5xx, stopping at its first event: its
    diagnosis is diagnose's over the same window.  The kernel log is the cell's own file, as
    diagnose's: without it watch's diagnosis read this machine's ring buffer, where another
    test's OOM kill seconds before the cell's crash was taken for the backend's (a crash cell
    behind HAProxy whose watch named backend-oom-killed, stop 36)."""
    argv = _diagnose_argv(run)
    args = argv[argv.index("json") + 1:]
    at = args.index("--kernel-log") if "--kernel-log" in args else len(args)
    kernel = args[at:at + 2]
    # watch follows an app server's log (``--app-log``, handed on to its diagnosis) and reads
    # no app config
    while "--app-conf" in args:
        i = args.index("--app-conf")
        del args[i:i + 2]
    proxy = PROXY_REGISTRY[run.proxy]
    if not proxy.can(Capability.WATCH) and proxy.hooks.log_family:
        # watch follows an edge proxy by its logs' family, not its config: Envoy's access log
        # with ``--log-type envoy``, Caddy's access log with its own log as a second
        # ``--access-log`` (docs/proxies/envoy.md, docs/proxies/caddy.md "not read")
        family = resolve(proxy.hooks.log_family)
        assert isinstance(family, LogFamily)
        logs = [p for p in (run.access_log, run.error_log) if p is not None]
        apps = [a for p in run.app_logs for a in ("--app-log", str(p))]
        # PHP-FPM's own log, followed as diagnose reads it (``--fpm-log``): without it watch's
        # diagnosis behind Caddy's php_fastcgi had no PHP fatal error to read (stop 45)
        if run.fpm_log is not None:
            apps += ["--fpm-log", str(run.fpm_log)]
        # and its config, which watch hands to each incident's diagnosis as diagnose reads it
        # (the probes of the targets the log blames: Envoy's UPE is decided by one)
        config = ["--proxy", run.proxy, "--config", str(run.config)] if run.config else []
        args = [*config, "--log-type", family.name,
                *[a for p in logs for a in ("--access-log", str(p))], *apps, *kernel]
    seconds = WATCH_SECONDS if served_5xx else WATCH_QUIET_SECONDS
    return [*argv[:3], "watch", "--format", "jsonl", "--listen", "off", "--from-start",
            "--duration", str(seconds), "--max-events", "1", "--min-failures", "1",
            "--min-requests", "1", "--ratio", "0.01", *args]


def _incident_cause(out: str, code: int | None, err: str) -> str:
    """The cause of watch's first incident (``healthy`` when none opened)."""
    if code != 0:
        return f"watch failed (exit {code}): {err.strip()[-160:]}"
    for line in out.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "incident-opened":
                return str(event["incident"].get("cause") or HEALTHY)
    return HEALTHY


def _named_backend_ok(finding: dict[str, object], address: str) -> bool:
    """A finding that names a backend names the failing one (its port), never a healthy peer."""
    named = str(finding.get("target") or finding.get("upstream") or "")
    port = address.rsplit(":", 1)[-1]
    if not named or named.startswith("unix:") or not re.search(r":\d+$", named):
        return True
    return named.rsplit(":", 1)[-1] == port


def _child_env(stack: Stack) -> dict[str, str]:
    """The environment of the cell's ``diagnose`` and ``watch``: this one, with the process scan
    (``WHY502_PROC_PIDS``, ``sources.proxyprocs``/``sources.appservers``) limited to the cell's
    own processes, so the host a cell stands for has only its proxy and its backend on it.
    Without it a cell's diagnosis read every proxy and app server of the machine: the other
    cells' when they run side by side (``--jobs``), another user's otherwise.  A value the user
    set is kept (the suite sets ``0``: no process at all, tests/conftest.py)."""
    env = dict(os.environ)
    if not env.get(PIDS_ENV, "").strip():
        env[PIDS_ENV] = ",".join(str(proc.pid) for proc in stack.processes) or "0"
    return env


def run_cell(cell: Cell) -> CellResult:
    """Run one cell end to end (see the module docstring)."""
    from why502.lab.scenarios.model import Scenario

    result = CellResult(cell=cell.name, proxy=cell.proxy, fault=cell.fault.name, backend=cell.backend,
                        traffic=cell.traffic, noise=cell.noise, expected=cell.fault.cause or HEALTHY)
    log, proof = cell.fault.proof_for(cell.proxy, cell.backend, cell.traffic)
    expect: tuple[tuple[str, str], ...] = ((log, proof),)
    if cell.backend in cell.fault.app_proof:  # and the app server's own log, where it has one
        app = cell.fault.app_proof[cell.backend]  # ("fpm:..." in PHP-FPM's log)
        expect += (("fpm", app[len("fpm:"):]) if app.startswith("fpm:") else ("app", app),)
    scenario = Scenario(name=cell.name, cause=cell.fault.cause or HEALTHY, title=cell.name,
                        description=cell.name,
                        symptoms=(), expect=expect, func=build(cell),
                        needs=(("ipv6",) if cell.backend == "tcp6" else ())
                        + (("root",) if cell.fault.socket_mode is not None else ()), proxy=cell.proxy)
    start = time.monotonic()
    try:
        with Stack() as stack:
            run = scenario.run(stack, noisy=cell.noise == "noisy")
            result.statuses = [status for _label, status in run.responses]
            unmet = scenario.unmet(run)
            result.reproduced = not unmet
            if unmet:
                result.error = f"the fault did not show in the proxy's log: {unmet[0]}"
                return result
            if run.kernel_log is None:
                run.kernel_log = stack.write_file("logs/kernel.log", "")
            served_5xx = any(s is not None and s >= 500 for s in result.statuses)
            env = _child_env(stack)
            watcher = (subprocess.Popen(_watch_argv(run, served_5xx), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                        env=env)
                       if cell.proxy in WATCHED else None)
            try:
                proc = subprocess.run(_diagnose_argv(run), capture_output=True, text=True,
                                      timeout=120, check=False, stdin=subprocess.DEVNULL, env=env)
                if watcher is not None:
                    watched_out, watched_err = watcher.communicate(timeout=WATCH_SECONDS + 60)
                    result.watched = _incident_cause(watched_out, watcher.returncode, watched_err)
            finally:
                if watcher is not None and watcher.poll() is None:
                    watcher.kill()
                    watcher.wait()
    except LabSkip:
        raise
    except (LabError, subprocess.TimeoutExpired, OSError) as err:
        result.error = f"{type(err).__name__}: {err}"
        return result
    finally:
        result.seconds = round(time.monotonic() - start, 1)
    result.exit_code = proc.returncode
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        result.error = f"diagnose printed no JSON (exit {proc.returncode}): {proc.stderr.strip()[-200:]}"
        return result
    findings = report.get("findings") or []
    result.healthy = bool(report.get("healthy"))
    result.got = findings[0]["cause"] if findings else None
    result.others = [f["cause"] for f in findings[1:4]]
    result.confidence = findings[0].get("confidence") if findings else None
    # a host whose proxy served 5xx is never healthy, whoever made them (the proxy, or the
    # backend whose 5xx the proxy relayed)
    served_5xx = any(s is not None and s >= 500 for s in result.statuses)
    if served_5xx and (result.healthy or proc.returncode == 0):
        who = "proxy-made" if cell.fault.made_by_proxy else "relayed"
        result.violations.append(f"clients got {who} 5xx, diagnose said healthy / exit 0")
    if result.watched is not None and result.watched != (result.got or HEALTHY):
        result.violations.append(f"watch named {result.watched} on the same window, "
                                 f"diagnose {result.got or HEALTHY}")
    address_port = _cell_port(run)
    if findings and address_port and not _named_backend_ok(findings[0], address_port):
        named = findings[0].get("target")
        result.violations.append(f"the top finding names {named}, not the failing backend")
    return result


def _cell_port(run: ScenarioRun) -> str | None:
    """The failing backend's ``host:port`` as the run's steps recorded it."""
    for step in run.steps:
        m = re.search(r"-> (\S+) \(", step)
        if m:
            return m.group(1)
    return None


@dataclass
class MatrixTable:
    """Cells right / run, per proxy, per cause, per backend, per traffic, per noise."""

    results: list[CellResult]

    def rows(self, key: str) -> list[tuple[str, int, int, int]]:
        """(value, right, reproduced, run) per value of ``key``."""
        groups: dict[str, list[CellResult]] = {}
        for r in self.results:
            groups.setdefault(str(getattr(r, key)), []).append(r)
        return [(k, sum(r.right for r in v), sum(r.reproduced for r in v), len(v))
                for k, v in sorted(groups.items())]

    def markdown(self) -> str:
        total = len(self.results)
        right = sum(r.right for r in self.results)
        reproduced = sum(r.reproduced for r in self.results)
        healthy_5xx = sum(any("proxy-made 5xx" in v for v in r.violations) for r in self.results)
        healthy_relayed = sum(any("relayed 5xx" in v for v in r.violations) for r in self.results)
        out = [f"**{right}/{reproduced} reproduced cells right** ({total} run; "
               f"{total - reproduced} did not reproduce: harness failures, not passes); "
               f"{healthy_5xx} reported healthy under proxy-made 5xx, {healthy_relayed} under "
               "relayed 5xx.", ""]
        for key, title in (("proxy", "proxy"), ("expected", "cause"), ("backend", "backend"),
                           ("traffic", "traffic"), ("noise", "noise")):
            out += [f"| {title} | right | reproduced | run |", "|---|---|---|---|"]
            out += [f"| {k} | {a} | {b} | {c} |" for k, a, b, c in self.rows(key)]
            out.append("")
        misses = [r for r in self.results if not r.right]
        if misses:
            out += ["| miss | expected | got | why |", "|---|---|---|---|"]
            out += [f"| {r.cell} | {r.expected} | {r.got or '-'} | "
                    f"{(r.error or '; '.join(r.violations) or 'wrong cause ranked first')[:120]} |"
                    for r in misses]
        return "\n".join(out) + "\n"


def _run_or_skip(cell: Cell) -> CellResult:
    """``run_cell``, with a cell this machine cannot run (``LabSkip``) as a skipped result."""
    try:
        return run_cell(cell)
    except LabSkip as err:
        return CellResult(cell=cell.name, proxy=cell.proxy, fault=cell.fault.name, backend=cell.backend,
                          traffic=cell.traffic, noise=cell.noise, expected=cell.fault.cause or HEALTHY,
                          error=f"skipped: {err}")


def run_cells(selected: Iterable[Cell], on_result: Callable[[CellResult], None] | None = None,
              jobs: int = 1, on_done: Callable[[CellResult, int, int], None] | None = None,
              ) -> MatrixTable:
    """Run ``selected``, ``jobs`` cells at a time (each bounded: ~10 requests, 120 s for
    diagnose).

    Why threads: most of a cell's time is waiting (a proxy and a backend starting, the idle gaps
    of its traffic, the proxy's timeouts, ``diagnose`` in its own process), so ``jobs`` above
    the machine's cores still pays.  The cells share nothing a thread could trample: each has
    its own ``Stack`` (temp dir, processes stopped by PID), its ports come from
    ``machine.free_port`` (which never hands one port out twice in a process, so a stopped
    cell's dead port cannot become another cell's listener), and ``diagnose``/``watch`` see only
    the cell's own processes (``_child_env``).  ``on_result`` is called in the order of
    ``selected`` whatever ``jobs`` (a result waits for the cells before it), so the output is
    the same for any ``jobs``; ``on_done(result, done, total)`` is called as each cell ends
    (progress)."""
    todo = list(selected)
    if jobs < 1:
        raise ValueError("jobs must be 1 or more")
    results: list[CellResult | None] = [None] * len(todo)
    shown = 0

    def finished(index: int, res: CellResult, done: int) -> None:
        nonlocal shown
        results[index] = res
        if on_done is not None:
            on_done(res, done, len(todo))
        while shown < len(todo) and results[shown] is not None:
            if on_result is not None:
                on_result(results[shown])  # type: ignore[arg-type]
            shown += 1

    if jobs == 1:
        for i, cell in enumerate(todo):
            finished(i, _run_or_skip(cell), i + 1)
    else:
        for proxy in {c.proxy for c in todo}:  # import the lab plug-ins once, before the threads
            lab_plugin(proxy)
        pool = ThreadPoolExecutor(jobs, thread_name_prefix="cell")
        try:
            futures = {pool.submit(_run_or_skip, cell): i for i, cell in enumerate(todo)}
            for done, fut in enumerate(as_completed(futures), 1):
                finished(futures[fut], fut.result(), done)
        finally:
            # on Ctrl-C or SIGTERM (raised here by cli.main) the cells not started are dropped
            # and only the running ones end (each stops its processes by PID): a ``with`` block
            # waited for every queued cell, so stopping a --jobs run took the rest of the run
            pool.shutdown(wait=True, cancel_futures=True)
    return MatrixTable([r for r in results if r is not None])


@dataclass
class Merged:
    """Shards' cells joined (``merge``): the table, and whether it is the whole matrix.

    ``whole`` only when every cell of the matrix is there exactly once and nothing else is: a
    missing cell, a cell run in two shards, or a cell the matrix no longer has (a shard run
    before the matrix changed) each make the table partial, and say which.  So does a shard
    run when the matrix had another number of cells (its ``matrix_cells``, stale): its cells
    are today's by name, but it ran before faults were added or changed (stop 45: the 16 shards
    of 960 cells, next to a run of the 110 new cells, are not one whole matrix of 1,070)."""

    results: list[CellResult]
    expected: int  # cells in the whole matrix
    shards: list[str]  # "K/N" of each document, "-" for one that was no shard
    missing: list[str]
    duplicated: list[str]
    unknown: list[str]
    # "K/N (M cells)" of each shard run on a matrix of M cells, not today's ``expected``
    stale: list[str] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        return (not (self.missing or self.duplicated or self.unknown or self.stale)
                and len(self.results) == self.expected)

    def _pieces(self) -> str:
        """"16 shards", or "16 shards and 1 other run" (a ``--fault`` run is no shard)."""
        others = self.shards.count("-")
        return f"{len(self.shards) - others} shards" + (
            f" and {others} other run{'s' if others > 1 else ''}" if others else "")

    def summary(self) -> str:
        """One line: whole or partial, and why."""
        if self.whole:
            return f"the whole matrix: all {self.expected} cells, each once ({self._pieces()})"
        why = [f"{len(self.missing)} cells not run" if self.missing else "",
               f"{len(self.duplicated)} run more than once" if self.duplicated else "",
               f"{len(self.unknown)} not in the matrix" if self.unknown else "",
               f"{len(self.stale)} shards run on a matrix of another size (stale: "
               f"{', '.join(self.stale[:4])}{', ...' if len(self.stale) > 4 else ''}; "
               f"today {self.expected} cells)" if self.stale else ""]
        return (f"partial: {len(self.results)} of {self.expected} cells ({self._pieces()}; "
                f"{', '.join(w for w in why if w)}), not the whole matrix")


def merge(docs: Sequence[dict[str, object]], every: Sequence[Cell] | None = None) -> Merged:
    """Join ``lab matrix --format json`` documents (shards, or any runs) into one table.

    A cell present twice is kept once (the first) and reported; the shards' ``N`` must agree
    (shard 3/16 and 3/12 hold different cells), else ValueError."""
    names = [c.name for c in (cells() if every is None else every)]
    known = set(names)
    counts = {s.split("/")[1] for d in docs if isinstance(s := d.get("shard"), str) and "/" in s}
    if len(counts) > 1:
        raise ValueError(f"shards of different counts cannot be merged: N = {', '.join(sorted(counts))}")
    seen: dict[str, CellResult] = {}
    duplicated: list[str] = []
    for doc in docs:
        rows = doc.get("cells")
        if not isinstance(rows, list):
            raise ValueError("not a `lab matrix --format json` document (no \"cells\" list)")
        for row in rows:
            try:
                result = CellResult(**{k: v for k, v in row.items() if k != "right"})
            except (TypeError, AttributeError) as err:
                raise ValueError(f"a cell that is not a `lab matrix` result: {err}") from None
            if result.cell in seen:
                duplicated.append(result.cell)
            else:
                seen[result.cell] = result
    results = [seen[n] for n in names if n in seen] + [r for n, r in seen.items() if n not in known]
    stale = [f"{d['shard']} ({d['matrix_cells']} cells)" for d in docs
             if d.get("shard") and isinstance(d.get("matrix_cells"), int) and d["matrix_cells"] != len(names)]
    return Merged(results=results, expected=len(names),
                  shards=[str(d.get("shard") or "-") for d in docs],
                  missing=[n for n in names if n not in seen], duplicated=sorted(set(duplicated)),
                  unknown=sorted(n for n in seen if n not in known), stale=stale)


def write_table(table: MatrixTable, path: Path) -> None:
    """The table as Markdown at ``path`` (bench/matrix.py writes docs/dev/fault-matrix.md)."""
    path.write_text(table.markdown(), encoding="utf-8")
