"""Probe every target of the config, and nothing else (``sources.probes.probe``).

A probe says what the target does *now*, in the terms nginx logs (errno symptoms, "not HTTP",
TLS alerts); the error log says what nginx saw *then*.  Targets are probed in parallel so forty
blackholed targets cost one timeout, not forty.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from why502.evidence.model import ClientFailures, EdgeFacts, TargetFact
from why502.facts.probes import ProbeResult, ProbeTarget
from why502.sources.probes import probe


def probe_targets(targets: list[TargetFact], timeout: float, *, path: str = "/"
                  ) -> tuple[dict[str, ProbeResult], dict[str, dict[str, Any]]]:
    """Target key -> its probe, and the probes as the report stores them (``to_dict``, before
    the TLS second look: the report shows what the probe itself saw)."""
    real = [t for t in targets if not t.uses_variables and (t.host or t.unix_path)]
    seen: dict[str, TargetFact] = {}
    for t in real:
        seen.setdefault(t.key, t)
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(seen)))) as pool:
        results = list(pool.map(lambda t: probe(t, timeout, path=path), seen.values()))
    probes = dict(zip(seen, results))
    as_json = {k: r.to_dict() for k, r in zip(seen, results)}
    for key, t in seen.items():
        probes[key] = _second_look(t, probes[key], timeout)
    return probes, as_json


class Probing:
    """``probe_targets`` started on a thread of its own, while the logs are read: a probe
    mostly waits (a blackholed target costs the whole timeout), so it need not wait for the
    logs nor they for it (issue 28 item 1).  ``result`` is ``probe_targets``'s answer, or
    raises what it raised.  A daemon thread: a run that fails before it asks does not wait."""

    def __init__(self, targets: list[TargetFact], timeout: float) -> None:
        self._found: tuple[dict[str, ProbeResult], dict[str, dict[str, Any]]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(targets, timeout),
                                        name="why502-probes", daemon=True)
        self._thread.start()

    def _run(self, targets: list[TargetFact], timeout: float) -> None:
        try:
            self._found = probe_targets(targets, timeout)
        except BaseException as err:  # raised again by result, on the caller's thread
            self._error = err

    def result(self) -> tuple[dict[str, ProbeResult], dict[str, dict[str, Any]]]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._found is not None
        return self._found


def failed_path(failures: ClientFailures | None) -> str | None:
    """The path of the first request the clients got a 5xx for that no error-log line claims
    (the proxy got a complete answer and relayed it), when it was a plain ``GET`` of another
    path than ``/``: what a probe should ask to see the backend's own 5xx.  None otherwise (no
    such request, another method, a path with spaces or control characters)."""
    if failures is None or failures.total - failures.by_proxy <= 0 or not failures.request:
        return None
    parts = failures.request.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or not parts[2].startswith("HTTP/"):
        return None
    path = parts[1]
    if not path.startswith("/") or path == "/" or len(path) > 2048 or any(
            ord(ch) < 33 or ord(ch) == 127 for ch in path):
        return None
    return path


def probe_failed_path(targets: list[TargetFact], found: dict[str, ProbeResult],
                      as_json: dict[str, dict[str, Any]], failures: ClientFailures | None,
                      timeout: float) -> None:
    """Ask each target whose ``GET /`` answered below 500 for the path its clients got a 5xx
    on (``failed_path``), and keep that answer when it is a 5xx (in ``found`` and ``as_json``).

    Why: a backend's own 5xx is often one route's (an app's ``/orders`` handler), not ``/``'s;
    an access log without upstream fields (Apache's ``combined``: mod_log_config has no upstream
    item) leaves a live answer the only proof that the backend made it.  The request is the one
    a client already sent and got a complete 5xx for (no error-log line claims it), a ``GET``
    (safe and idempotent, RFC 9110 9.2.1), once per target, bounded by ``timeout``."""
    path = failed_path(failures)
    if path is None:
        return
    for t in targets:
        first = found.get(t.key)
        status = first.protocol.status if first is not None and first.protocol is not None else None
        if first is None or status is None or status >= 500 or t.uses_variables:
            continue
        again = probe(t, timeout, path=path)
        got = again.protocol.status if again.protocol is not None else None
        if got is not None and got >= 500:
            again = replace(again, detail=f"GET {path}: {again.detail}".rstrip(": "))
            found[t.key] = again
            as_json[t.key] = again.to_dict()


# The causes an edge log names whose deciding evidence is a live answer of the target
# (``analyzers.edge_apps._spoken_badly``): Envoy's ``UPE`` says only that its HTTP/1 codec
# rejected the answer (source/common/stream_info/utility.cc), for a port speaking another
# protocol and for an app speaking HTTP badly alike; the probe tells them apart.
PROBE_DECIDES = frozenset({"protocol-mismatch", "backend-crashed"})
# ... and Envoy's ``UF`` (the connection failed, a TLS handshake included: router.cc
# streamResetReasonToResponseFlag) on a target the proxy speaks TLS to: a refused port and a
# plain-HTTP port that fails the handshake are the same flag, and only whether the port takes
# a connection now (and how it answers TLS) tells them apart (edge_apps.refine).  A
# ``backend-crashed`` target is asked too: a port that speaks another protocol (TLS, FastCGI)
# resets every request the proxy sends, in the same words as a crash (``UC``, "connection reset
# by peer"), and a crashed one that came back answers the protocol spoken (fault-matrix.md
# stop 45).
PROBE_DECIDES_IF_TLS = frozenset({"backend-not-running"})


def edge_probes(targets: tuple[TargetFact, ...], edge: EdgeFacts, timeout: float
                ) -> tuple[dict[str, ProbeResult], dict[str, dict[str, Any]]]:
    """The probes of the config's targets that an edge log blames for a cause of
    ``PROBE_DECIDES`` (or ``PROBE_DECIDES_IF_TLS`` on a target spoken TLS; an edge log read
    alone, with its proxy's ``--config``, live): what the
    port answers now.  Only those targets are asked (the others' causes are the log's own
    words, and a probe of a dead target would be a second reading of the log's refusals).
    Keyed by the name the log gives the target: Envoy's ``%UPSTREAM_HOST%`` writes a ``pipe``
    endpoint as its bare path, the config's key is ``unix:PATH``."""
    named = {t for lb in edge.families for cause, grp in lb.lb_failures.items()
             if cause in PROBE_DECIDES for t in grp.targets}
    if_tls = {t for lb in edge.families for cause, grp in lb.lb_failures.items()
              if cause in PROBE_DECIDES_IF_TLS for t in grp.targets}
    as_named = {t.key: name for t in targets for name in (t.key, t.unix_path)
                if name in named or (name in if_tls and t.scheme == "https")}
    if not as_named:
        return {}, {}
    found, as_json = probe_targets([t for t in targets if t.key in as_named], timeout)
    return ({as_named[k]: v for k, v in found.items()}, {as_named[k]: v for k, v in as_json.items()})


def _second_look(t: TargetFact, res: ProbeResult, timeout: float) -> ProbeResult:
    """An http:// target that reset or closed on a plain request, asked in the two protocols
    such a port most often speaks instead: TLS (``_tls_second_look``), then FastCGI
    (``_fastcgi_second_look``).  The first that answers names what the port speaks."""
    again = _tls_second_look(t, res, timeout)
    return again if again is not res else _fastcgi_second_look(t, res, timeout)


def _fastcgi_second_look(t: TargetFact, res: ProbeResult, timeout: float) -> ProbeResult:
    """An http:// target that resets a plain request may be a FastCGI port (PHP-FPM's): ask it
    for the ``FCGI_GET_VALUES`` management record, which runs no script (the probe of a
    ``fastcgi_pass`` target, ``sources.probes.protocols.fastcgi_probe``; docs/evidence-sources.md).

    Why: PHP-FPM reads the first bytes of ``GET / HTTP/1.1`` as a FastCGI record header, finds
    no valid record and drops the connection (sapi/fpm/fpm/fastcgi.c ``fcgi_read_request()``),
    so nginx logs ``recv() failed (104: Connection reset by peer)``, HAProxy ``SH--``, Envoy
    ``UC``: a crash's words.  Only the port's answer in FastCGI tells "proxy_pass http:// to
    PHP-FPM" (the catalog's protocol-mismatch) from a dying app (fault-matrix.md stop 45).
    Still the same target of the config: nothing else is probed."""
    if t.kind != "proxy" or t.scheme != "http" or res.protocol is None or res.answer not in (
            "reset", "empty"):
        return res
    again = probe(ProbeTarget(kind="fastcgi", host=t.host, port=t.port, unix_path=t.unix_path),
                  timeout=timeout)
    if again.answer != "fastcgi":
        return res
    return replace(res, protocol=replace(res.protocol, answer="fastcgi"),
                   detail=f"{res.detail}; it answers a FastCGI management record: the port speaks FastCGI")


def _tls_second_look(t: TargetFact, res: ProbeResult, timeout: float) -> ProbeResult:
    """An http:// target that resets a plain request may be a TLS port: ask it in TLS too.

    Still the same target of the config (nothing else is probed); a TLS server drops a plaintext
    request, which looks like a crash in nginx's log (``recv() failed (104: ...)``).
    """
    if t.kind != "proxy" or t.scheme != "http" or res.protocol is None or res.answer not in (
            "reset", "empty"):
        return res
    again = probe(ProbeTarget(kind="proxy", scheme="https", host=t.host, port=t.port,
                              unix_path=t.unix_path), timeout=timeout)
    if not any(x.ok for x in again.tls):
        return res
    return replace(res, protocol=replace(res.protocol, answer="tls"),
                   detail=f"{res.detail}; it completes a TLS handshake: the port speaks TLS")
