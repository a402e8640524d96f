"""The counting spec of this proxy's JSON access lines for ``watch``'s native counter
(``parsers.lblogs.counts``), declared by its log family (``log.py``: ``LogFamily.counts``);
polars-free, as the agent is."""

from __future__ import annotations

from typing import Any

from why502.parsers.lblogs.countspec import OTHER_EDGE_KEYS, JsonCount, JsonFoldSpec, as_read

#: ``watch``'s native counting of Traefik's JSON access lines (``parsers.lblogs.counts``; its
#: column pass's spec: proxies/traefik/frame.py ``SCHEMA``, ``_NATIVE``)
COUNTS = JsonCount(
    "traefik",
    keys=(*((k.encode(), "l", k == "DownstreamStatus", False, ()) for k in (
        "DownstreamStatus", "OriginStatus", "OriginContentSize", "RetryAttempts")),
          *((k.encode(), "g", False, False, ()) for k in ("Duration", "OriginDuration")),
          *((k.encode(), "u", False, False, ()) for k in (
              "ServiceURL", "RouterName", "RequestMethod", "RequestPath", "StartUTC", "time",
              "ServiceAddr", "ServiceName", "RequestHost", "ClientHost"))),
    forbidden=("EdgeResponseStatus", "RayID", "logger", "caller", *OTHER_EDGE_KEYS[2:]),
    nested_ok=False,
    # below 500 only the status counts (_traefik_own is False there, and the one code it
    # gives without a 5xx, "no router", has no symptom: tested)
    group=(("DownstreamStatus", "v"), ("OriginContentSize", "f"), ("ServiceURL", "f"),
           ("RouterName", "f"), ("ServiceAddr", "f"), ("ServiceName", "f")),
    prefix=(), once=('"DownstreamStatus"',), obj=as_read)


def _timing(groups: Any) -> Any:
    from why502.proxies.traefik.frame import traefik_upstream_ms  # polars: only when stats reads

    return traefik_upstream_ms(groups)


#: what ``stats`` counts of its JSON lines in the native pass (``parsers.lblogs.jsonfold``):
#: ``parse_traefik_json`` decides made_by and the code from the status, the service URL and the
#: router (and, from 500 on, the body size: Traefik's own error page), the retries from
#: ``RetryAttempts``, the target from ``ServiceAddr`` (else the URL), the group from
#: ``ServiceName``, the timing from ``OriginDuration`` when there is a URL; a row's time is
#: ``StartUTC`` (the first key it tries)
FOLD = JsonFoldSpec(
    time="StartUTC",
    decide=(("DownstreamStatus", "v"), ("OriginContentSize", "f"), ("ServiceURL", "v"), ("RouterName", "v"),
            ("RetryAttempts", "v")),
    per=(("ServiceAddr", "v"), ("ServiceName", "v")),
    timing=(("OriginDuration", "n"),), timing_reads=("ServiceURL",), timing_of=_timing)
