"""The counting spec of this proxy's JSON access lines for ``watch``'s native counter
(``parsers.lblogs.counts``), declared by its log family (``log.py``: ``LogFamily.counts``);
polars-free, as the agent is."""

from __future__ import annotations

from why502.parsers.lblogs.countspec import OTHER_EDGE_KEYS, JsonCount, as_read

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
