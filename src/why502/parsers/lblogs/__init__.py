"""Access logs of cloud load balancers and modern proxies, read into one record type.

Families (``LOG_TYPES``): AWS ALB and Classic ELB, Cloudflare Logpush ``http_requests`` JSON,
Envoy / Istio (default text, Istio text, JSON), Caddy (JSON access and error logs, Caddy 1
errors) and Traefik (JSON and CLF access logs, error lines).  ``detect`` recognises the family
from the content (the first lines), ``parse_line`` reads one line into an ``LbRecord``; both are
pure.  Lines may carry a shipper's prefix (journald ``Mon DD hh:mm:ss host prog[pid]:``, ``docker
compose`` ``name |``, ``kubectl --timestamps``): JSON is read from its first ``{``, text formats
are searched, not anchored, where the format allows it.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from why502.parsers.lblogs.alb import is_alb, is_elb, parse_alb, parse_elb
from why502.parsers.lblogs.caddy import (
    is_caddy,
    is_traefik,
    is_traefik_clf,
    parse_caddy,
    parse_caddy1,
    parse_traefik_clf,
    parse_traefik_error,
    parse_traefik_json,
)
from why502.parsers.lblogs.cloudflare import is_cloudflare, parse_cloudflare
from why502.parsers.lblogs.envoy import (
    is_envoy_json,
    is_envoy_text,
    parse_envoy_json,
    parse_envoy_kv,
    parse_envoy_text,
)
from why502.parsers.lblogs.model import LbRecord

__all__ = ["LOG_TYPES", "LbRecord", "detect", "detect_families", "json_object", "parse_line"]

LOG_TYPES: tuple[str, ...] = ("alb", "elb", "cloudflare", "envoy", "caddy", "traefik")
SNIFF_LINES = 50


def json_object(line: str) -> dict[str, Any] | None:
    """The JSON object a line carries (after any shipper prefix), or None."""
    start = line.find("{")
    if start < 0:
        return None
    try:
        obj = json.loads(line[start:], **_SANE)
    except ValueError:
        return _flat_scan(line[start:])
    except RecursionError:
        return None
    return obj if isinstance(obj, dict) else None


def _sane_int(text: str) -> int | None:
    """A JSON integer a log field can hold (a nanosecond timestamp has 19 digits), else None:
    ``int()`` of 5000 digits raises, and a 40-digit one overflows every float conversion later
    (bench/fuzz.py found both in Cloudflare and Caddy lines)."""
    return int(text) if len(text.lstrip("-")) <= 20 else None


def _sane_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None  # 1e309 is inf; NaN is no number


_SANE: dict[str, Any] = {"parse_int": _sane_int, "parse_float": _sane_float,
                         "parse_constant": lambda _name: None}


_SCALAR = re.compile(
    r'"([A-Za-z_][\w.-]*)"\s*:\s*'
    r'("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)'
)


def _flat_scan(text: str) -> dict[str, Any] | None:
    """The scalar fields of a JSON object that does not parse (a redacted value such as
    ``"ZoneID":******``, a line cut by a shipper): each ``"key": scalar`` read on its own, the
    first occurrence of a key kept.  None when fewer than three fields are found."""
    out: dict[str, Any] = {}
    for key, raw in _SCALAR.findall(text):
        if key in out:
            continue
        try:
            out[key] = json.loads(raw, **_SANE)
        except ValueError:
            continue
    return out if len(out) >= 3 else None


def _json_family(obj: dict[str, Any]) -> str | None:
    if is_cloudflare(obj):
        return "cloudflare"
    if is_envoy_json(obj):
        return "envoy"
    if is_caddy(obj):
        return "caddy"
    if is_traefik(obj):
        return "traefik"
    return None


_JSON_PARSERS: dict[str, Callable[[dict[str, Any]], LbRecord | None]] = {
    "cloudflare": parse_cloudflare, "envoy": parse_envoy_json, "caddy": parse_caddy,
    "traefik": parse_traefik_json,
}
_TEXT_PARSERS: dict[str, tuple[Callable[[str], LbRecord | None], ...]] = {
    "alb": (parse_alb,), "elb": (parse_elb,), "envoy": (parse_envoy_text, parse_envoy_kv),
    "caddy": (parse_caddy1,), "traefik": (parse_traefik_clf, parse_traefik_error),
    "cloudflare": (),
}


def text_family(line: str) -> str | None:
    """The family of a non-JSON line, or None."""
    if is_alb(line):
        return "alb"
    if is_traefik_clf(line):
        return "traefik"
    if is_envoy_text(line):
        return "envoy"
    if is_elb(line):
        return "elb"
    if parse_caddy1(line) is not None:
        return "caddy"
    if parse_traefik_error(line) is not None:
        return "traefik"
    if parse_envoy_kv(line) is not None:
        return "envoy"
    return None


def family_of(line: str) -> str | None:
    obj = json_object(line) if "{" in line else None
    if obj is not None:
        fam = _json_family(obj)
        if fam is not None:
            return fam
    return text_family(line)


def _caddy_own(line: str) -> bool:
    """A line of Caddy's default logger that is not a request (start-up, TLS, admin): JSON with
    ``ts``, ``level`` and ``msg``.  It counts for Caddy when judging a whole file."""
    obj = json_object(line) if line.lstrip().startswith("{") else None
    return obj is not None and {"ts", "level", "msg"} <= obj.keys()


def _votes(lines: Iterable[str]) -> tuple[Counter[str], int]:
    """The families of the first ``SNIFF_LINES`` non-empty lines, and how many were seen."""
    votes: Counter[str] = Counter()
    seen = 0
    for line in lines:
        if not line.strip():
            continue
        seen += 1
        fam = family_of(line)
        if fam is None and _caddy_own(line):
            fam = "caddy"
        if fam is not None:
            votes[fam] += 1
        if seen >= SNIFF_LINES:
            break
    return votes, seen


def detect(lines: Iterable[str]) -> str | None:
    """The family of the first non-empty lines: the one most of them belong to, when at least
    half of them do (a mixed log -- nginx error lines with a few Envoy lines among them -- stays
    with the nginx readers, which know every program's messages)."""
    votes, seen = _votes(lines)
    if not votes:
        return None
    family, count = votes.most_common(1)[0]
    return family if 2 * count >= seen else None


def detect_families(lines: Iterable[str]) -> tuple[str, ...]:
    """Every family of the first non-empty lines, most lines first, when lines of these
    families together are at least half of them (else ``()``: the nginx readers judge it).

    A log shipper or a copy-paste can put several edges in one file (an ALB in front of Envoy
    sidecars, Cloudflare in front of both): ``detect`` alone named none of them when no family
    held half of the lines, and the file was read as an nginx log that matched nothing."""
    votes, seen = _votes(lines)
    if not votes or 2 * sum(votes.values()) < seen:
        return ()
    return tuple(fam for fam, _n in votes.most_common())


def parse_line(line: str, family: str | None = None) -> LbRecord | None:
    """One line -> its record (None: not a request line of ``family``, or of any family)."""
    if "{" in line:
        obj = json_object(line)
        if obj is not None:
            fam = _json_family(obj)
            if fam is not None and (family is None or fam == family):
                return _JSON_PARSERS[fam](obj)
            if fam is not None:
                return None
    families = (family,) if family is not None else tuple(f for f in LOG_TYPES if f != "cloudflare")
    for fam in families:
        for parser in _TEXT_PARSERS.get(fam, ()):
            rec = parser(line)
            if rec is not None:
                return rec
    return None
