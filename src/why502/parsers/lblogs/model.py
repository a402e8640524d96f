"""The one record every cloud load balancer / proxy access-log line becomes.

Each family's parser (``alb``, ``cloudflare``, ``envoy``, ``caddy``, ``traefik``) reads its own
fields and decides two things from them, never from the status alone: *who made the status*
(``made_by``: the load balancer / edge / proxy itself, or the backend it relayed) and the
*word* the proxy used for the failure (``code``: an Envoy flag, an ALB condition, a Cloudflare
52x, a Caddy/Traefik error).  The code is then looked up in the catalog's vocabulary
(``catalog/data/proxy_terms.toml``) for the RFC 9209 Proxy-Status type, the symptom and the
root cause, so the cause model is data, the same for every family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from why502.catalog.terms import Term, term

MadeBy = str  # "lb" | "backend" | "unknown"


@dataclass(frozen=True)
class LbRecord:
    """One request as a load balancer / proxy logged it."""

    family: str  # alb, elb, cloudflare, envoy, caddy, traefik
    status: int | None  # what the client got (None: the line has none, e.g. a TCP entry)
    made_by: MadeBy
    time: str | None = None  # ISO 8601 as the log wrote it (UTC for every family here)
    code: str | None = None  # the proxy's own word for the failure (a key of proxy_terms.toml)
    symptom: str | None = None
    proxy_status: str | None = None  # RFC 9209 error type
    cause: str | None = None  # the root cause the term points to first
    backend_status: int | None = None  # what the target/origin answered, when logged
    target: str | None = None  # target ip:port / upstream host / origin IP
    group: str | None = None  # target group / cluster / service / origin host name
    request: str | None = None  # "GET /path"
    host: str | None = None
    client: str | None = None
    duration_ms: float | None = None  # whole request, as the LB measured it
    upstream_ms: float | None = None  # time spent on the backend (target/origin/upstream)
    retries: int | None = None  # extra attempts the proxy made (None: not logged)
    detail: str | None = None  # the proxy's detail text (error_reason, transport failure, message)
    kind: str = "access"  # access | error (an error-log line of the proxy)

    @property
    def failed(self) -> bool:
        """A 5xx (or a proxy failure recorded with another status, e.g. gRPC 200 + UT)."""
        return (self.status is not None and self.status >= 500) or (
            self.made_by == "lb" and self.symptom is not None)


def resolved(rec: LbRecord, family: str | None = None) -> LbRecord:
    """Fill symptom / proxy_status / cause from the vocabulary term of ``rec.code`` (kept when
    the parser already set a more precise one)."""
    if rec.code is None:
        return rec
    t: Term | None = term(family or rec.family, rec.code)
    if t is None:
        return rec
    return replace(
        rec,
        symptom=rec.symptom or t.symptom or None,
        proxy_status=rec.proxy_status or t.proxy_status or None,
        cause=rec.cause or t.cause or None,
    )


#: the ints a record holds: its columns are Int64 (``evidence.lbstats.COLUMNS``)
_INT64 = range(-(1 << 63), 1 << 63)


def to_int(text: str | int | float | None) -> int | None:
    """An int from a log field ('-', '', None, garbage, and a number no Int64 holds are None:
    a status of 20 digits in Traefik's common format or Cloudflare's JSON made ``stats`` end in
    an internal error building its columns)."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        value = int(text) if math.isfinite(text) else None
    else:
        t = text.strip()
        digits = t.lstrip("-")
        # ASCII and at most 20 digits: "²" passes isdigit() and 5000 digits overflow int() (bench/fuzz.py)
        value = int(t) if digits.isascii() and digits.isdigit() and len(digits) <= 20 else None
    return value if value is not None and value in _INT64 else None


def to_float(text: str | int | float | None) -> float | None:
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        value = float(text) if not isinstance(text, int) or text.bit_length() < 1000 else math.inf
    else:
        try:
            value = float(text)
        except ValueError:
            return None
    return value if math.isfinite(value) else None  # NaN, inf and 1e309 are no duration
