"""The counting spec of this proxy's JSON access lines for ``watch``'s native counter
(``parsers.lblogs.counts``), declared by its log family (``log.py``: ``LogFamily.counts``);
polars-free, as the agent is."""

from __future__ import annotations

from why502.parsers.lblogs.countspec import JsonCount, JsonFoldSpec, as_read

# its JSON keys (proxies/envoy/frame.py: _STATUS ... _RESPONSE_DURATION; log.parse_envoy_json)
_ENVOY_STATUS = ("response_code", "responseCode", "status")
_ENVOY_NUMBERS = (*_ENVOY_STATUS, "duration", "upstream_service_time", "upstreamServiceTime",
                  "x-envoy-upstream-service-time")
_ENVOY_FLAGS = ("response_flags", "responseFlags", "response_flag")
_ENVOY_DETAILS = ("response_code_details", "responseCodeDetails")
_ENVOY_TFR = ("upstream_transport_failure_reason", "upstreamTransportFailureReason")
_ENVOY_TARGET = ("upstream_host", "upstreamHost", "upstream_cluster", "upstreamCluster")
_ENVOY_STRINGS = (*_ENVOY_FLAGS, "method", "requestMethod", "path", "requestPath", "x-envoy-origin-path",
                  *_ENVOY_DETAILS, *_ENVOY_TFR, "start_time", "startTime", "timestamp", "authority",
                  "requestAuthority", *_ENVOY_TARGET, "downstream_remote_address", "remote_addr",
                  "x_forwarded_for")
_ENVOY_RESPONSE_DURATION = ("response_duration", "responseDuration", "targetDuration")
#: ``watch``'s native counting of its JSON access lines (``parsers.lblogs.counts``; its column
#: pass's spec: proxies/envoy/frame.py ``SCHEMA``, every key text, ``_NATIVE``)
COUNTS = JsonCount(
    "envoy",
    keys=(*((k.encode(), "s", False, False, ()) for k in _ENVOY_NUMBERS),
          *((k.encode(), "u", False, k in (*_ENVOY_FLAGS, *_ENVOY_DETAILS, *_ENVOY_TFR), ())
            for k in (*_ENVOY_STRINGS, *_ENVOY_RESPONSE_DURATION))),
    forbidden=("EdgeResponseStatus", "RayID"), nested_ok=False,
    # a flag or detail makes the proxy's own failure at any status (a 200 with UT): every
    # deciding value counts; of %RESPONSE_DURATION% only whether it is empty, and which key
    group=(*((k, "v") for k in (*_ENVOY_STATUS, *_ENVOY_FLAGS, *_ENVOY_DETAILS, *_ENVOY_TFR,
                                *_ENVOY_TARGET)),
           *((k, "e") for k in _ENVOY_RESPONSE_DURATION)),
    prefix=(), once=('"response_code"',), obj=as_read)

#: what ``stats`` counts of its JSON lines in the native pass (``parsers.lblogs.jsonfold``): the
#: keys ``parse_envoy_json`` decides status, made_by, code and retries from (``_record``: the
#: flags, details and transport failure; ``_no_upstream_byte``: whether %RESPONSE_DURATION% is
#: there and empty), and those of the target, cluster and upstream time; a row's time is
#: ``start_time`` (the first key ``_text`` tries)
FOLD = JsonFoldSpec(
    time="start_time",
    decide=(*((k, "v") for k in (*_ENVOY_STATUS, *_ENVOY_FLAGS, *_ENVOY_DETAILS, *_ENVOY_TFR)),
            *((k, "e") for k in _ENVOY_RESPONSE_DURATION)),
    per=tuple((k, "v") for k in _ENVOY_TARGET),
    timing=tuple((k, "v") for k in ("upstream_service_time", "upstreamServiceTime",
                                    "x-envoy-upstream-service-time")))
