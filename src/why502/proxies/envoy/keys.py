"""The keys each field of an Envoy JSON access-log line is read from, the first one a line has.

Envoy's own examples write its command operators in snake_case (``response_code``), Istio's
and Gloo's formats in camelCase (``responseCode``), and users name them as they like; these are
the names ``log.parse_envoy_json`` reads (``_get``'s order), and the batch reader
(``frame.py``) and ``watch``'s native counter (``counts.py``) read the same ones -- written once
here, polars-free as the agent is.  The nested ``upstream.*`` keys some formats use are read by
the per-line parser only (a line with a nested object goes to it).
"""

from __future__ import annotations

FLAG_KEYS = ("response_flags", "responseFlags", "response_flag")
STATUS_KEYS = ("response_code", "responseCode", "status")
METHOD_KEYS = ("method", "requestMethod")
PATH_KEYS = ("path", "requestPath", "x-envoy-origin-path")
DETAILS_KEYS = ("response_code_details", "responseCodeDetails")
TFR_KEYS = ("upstream_transport_failure_reason", "upstreamTransportFailureReason")
TIME_KEYS = ("start_time", "startTime", "timestamp")
HOST_KEYS = ("authority", "requestAuthority")
UPSTREAM_KEYS = ("upstream_host", "upstreamHost")
CLUSTER_KEYS = ("upstream_cluster", "upstreamCluster")
DURATION_KEYS = ("duration",)
UST_KEYS = ("upstream_service_time", "upstreamServiceTime", "x-envoy-upstream-service-time")
CLIENT_KEYS = ("downstream_remote_address", "remote_addr", "x_forwarded_for")
# %RESPONSE_DURATION%: "from the start time to the first byte read from the upstream host", "-"
# (JSON null) when no byte was read (envoyproxy/envoy docs/root/configuration/observability/
# access_log/usage.rst).  Its keys in Envoy's snake_case, camelCase, and Gloo Edge's documented
# JSON format ("targetDuration": "%RESPONSE_DURATION%").
RESPONSE_DURATION_KEYS = ("response_duration", "responseDuration", "targetDuration")

#: read as numbers (``to_int`` / ``to_float``)
NUMBER_KEYS = (*STATUS_KEYS, *DURATION_KEYS, *UST_KEYS)
#: read as text
STRING_KEYS = (*FLAG_KEYS, *METHOD_KEYS, *PATH_KEYS, *DETAILS_KEYS, *TFR_KEYS, *TIME_KEYS, *HOST_KEYS,
               *UPSTREAM_KEYS, *CLUSTER_KEYS, *CLIENT_KEYS)
