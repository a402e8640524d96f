"""Probe every target of the config, and nothing else (``sources.probes.probe``).

A probe says what the target does *now*, in the terms nginx logs (errno symptoms, "not HTTP",
TLS alerts); the error log says what nginx saw *then*.  Targets are probed in parallel so forty
blackholed targets cost one timeout, not forty.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from why502.evidence.model import TargetFact
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
        probes[key] = _tls_second_look(t, probes[key], timeout)
    return probes, as_json


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
