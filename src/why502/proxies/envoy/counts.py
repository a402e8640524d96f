"""The counting spec of this proxy's JSON access lines for ``watch``'s native counter
(``parsers.lblogs.counts``), declared by its log family (``log.py``: ``LogFamily.counts``);
polars-free, as the agent is."""

from __future__ import annotations

from why502.parsers.lblogs.countspec import JsonCount, JsonFoldSpec, as_read
from why502.proxies.envoy.keys import (
    CLUSTER_KEYS,
    DETAILS_KEYS,
    FLAG_KEYS,
    NUMBER_KEYS,
    RESPONSE_DURATION_KEYS,
    STATUS_KEYS,
    STRING_KEYS,
    TFR_KEYS,
    UPSTREAM_KEYS,
    UST_KEYS,
)

# its JSON keys (keys.py: log.parse_envoy_json's)
_ENVOY_TARGET = (*UPSTREAM_KEYS, *CLUSTER_KEYS)
#: ``watch``'s native counting of its JSON access lines (``parsers.lblogs.counts``; its column
#: pass's spec: proxies/envoy/frame.py ``SCHEMA``, every key text, ``_NATIVE``)
COUNTS = JsonCount(
    "envoy",
    keys=(*((k.encode(), "s", False, False, ()) for k in NUMBER_KEYS),
          *((k.encode(), "u", False, k in (*FLAG_KEYS, *DETAILS_KEYS, *TFR_KEYS), ())
            for k in (*STRING_KEYS, *RESPONSE_DURATION_KEYS))),
    forbidden=("EdgeResponseStatus", "RayID"), nested_ok=False,
    # a flag or detail makes the proxy's own failure at any status (a 200 with UT): every
    # deciding value counts; of %RESPONSE_DURATION% only whether it is empty, and which key
    group=(*((k, "v") for k in (*STATUS_KEYS, *FLAG_KEYS, *DETAILS_KEYS, *TFR_KEYS,
                                *_ENVOY_TARGET)),
           *((k, "e") for k in RESPONSE_DURATION_KEYS)),
    prefix=(), once=('"response_code"',), obj=as_read)

#: what ``stats`` counts of its JSON lines in the native pass (``parsers.lblogs.jsonfold``): the
#: keys ``parse_envoy_json`` decides status, made_by, code and retries from (``_record``: the
#: flags, details and transport failure; ``_no_upstream_byte``: whether %RESPONSE_DURATION% is
#: there and empty), and those of the target, cluster and upstream time; a row's time is
#: ``start_time`` (the first key ``_text`` tries)
FOLD = JsonFoldSpec(
    time="start_time",
    decide=(*((k, "v") for k in (*STATUS_KEYS, *FLAG_KEYS, *DETAILS_KEYS, *TFR_KEYS)),
            *((k, "e") for k in RESPONSE_DURATION_KEYS)),
    per=tuple((k, "v") for k in _ENVOY_TARGET),
    timing=tuple((k, "v") for k in UST_KEYS))
