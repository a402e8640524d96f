"""What ``why502 watch`` counts of a block of an edge family's access-log lines, natively and
without polars (issue 28 item 5, "a light agent": polars is kept out of the agent).

``Watch._lb`` (``app/watch/engine.py``) needs, of each block, the requests by status and the
edge's own failures by symptom and target (or group) -- what ``LogFamilies.parse_line`` gives
line by line, at ~25-60 us a line.  The native passes that cut and decide these lines for
``stats`` (``_albscan.c``, ``_jsonscan.c``) have a counting entry each, sharing their cutting
and deciding code, that hands back the counts instead of Arrow columns: ``alb_counts`` (ALB)
and ``json_counts`` (Caddy, Traefik's JSON, Cloudflare, Envoy's JSON: the lines grouped by the
values that decide them, each group then decided once by the family's own parser,
``JsonCount``).  A line such a pass is not sure of -- and a line the per-line reader could read
otherwise than the pass (the entries' docstrings say which) -- is handed back, and the agent
reads it as before; so the counts are the per-line reader's
(``tests/watch/test_watch_native_counts.py``).
"""

from __future__ import annotations

import importlib
import os
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from why502.catalog.terms import term
from why502.parsers.lblogs.family import LogFamily
from why502.parsers.lblogs.model import LbRecord


@dataclass
class BlockCounts:
    """A block's requests by status, the edge's own failures by (symptom, target or group) --
    ``LbRecord.target or LbRecord.group or ""``, as written -- and the lines it handed back
    (each with its newline) for the per-line reader."""

    statuses: dict[int, int]
    failures: Counter[tuple[str, str]]
    rest: bytes


BlockCounter = Callable[[bytes], BlockCounts]


@cache
def _module(name: str) -> ModuleType | None:
    """The native pass ``name`` of this package, when it was built (``setup.py``)."""
    try:
        return importlib.import_module(f"why502.parsers.lblogs.{name}")
    except ImportError:
        return None


@cache
def _symptom(family: str, code: str) -> str | None:
    """The symptom of the vocabulary's term ``code`` of ``family`` (``model.resolved``: the
    record's own symptom is None for the codes the passes decide)."""
    t = term(family, code)
    return (t.symptom or None) if t is not None else None


def _failures(family: str, raw: dict[tuple[bytes, bytes], int]) -> Counter[tuple[str, str]]:
    """(code, label) counts -> (symptom, label) counts, codes without a symptom left out
    (``Watch._lb`` counts a record of the edge's own only when it has a symptom)."""
    out: Counter[tuple[str, str]] = Counter()
    for (code, label), n in raw.items():
        symptom = _symptom(family, code.decode("ascii"))
        if symptom:
            out[(symptom, label.decode("ascii"))] += n
    return out


def _alb(module: ModuleType) -> BlockCounter:
    def count(data: bytes) -> BlockCounts:
        statuses, raw, rest = module.alb_counts(data)
        return BlockCounts(statuses, _failures("alb", raw), rest)
    return count


#: a key of the native JSON pass: (name, kind, required, any_of, counted names) -- ``JsonPass.keys``
JsonKey = tuple[bytes, str, bool, bool, tuple[bytes, ...]]


@dataclass(frozen=True)
class JsonCount:
    """A JSON family's counting by ``_jsonscan.json_counts``: the key spec and guards of its
    column pass (``keys``, ``forbidden``, ``nested_ok``: ``batch.JsonPass.keys`` of its polars
    schema, written here without polars -- ``tests/watch/test_watch_native_counts.py`` holds
    them equal), the keys whose values decide a line (``group``: (name, mode), mode "f" when
    they decide a failure only, i.e. matter from status 500 on), the string keys that must
    start with a text (``prefix``), the texts a line may hold once at most (``once``: the
    quoted status key, see ``_jsonscan.c``), and ``obj``: a group's values as the JSON object
    the family's parser is given to decide it (the values it reads of the line, nothing else)."""

    family: str
    keys: tuple[JsonKey, ...]
    forbidden: tuple[str, ...]
    nested_ok: bool
    group: tuple[tuple[str, str], ...]
    prefix: tuple[tuple[str, str], ...]
    once: tuple[str, ...]
    obj: Callable[[dict[str, Any]], dict[str, Any]]


def _caddy_obj(v: dict[str, Any]) -> dict[str, Any]:
    """A group of Caddy's access lines as ``caddy.log.parse_caddy`` reads it: its status, size,
    host, and as many response headers not among Caddy's own as the pass counted."""
    headers = v.get("resp_headers")
    host = v.get("request.host")
    return {"logger": "http.log.access", "status": v["status"], "size": v.get("size"),
            "resp_headers": None if headers is None else {f"x-{i}": [] for i in range(headers)},
            "request": None if host is None else {"host": host}}


def _as_read(v: dict[str, Any]) -> dict[str, Any]:
    """A group of lines as the family's parser reads them: the keys it decides on that the lines
    hold, with their values (Traefik's ``parse_traefik_json``, Cloudflare's ``parse_cloudflare``,
    Envoy's ``parse_envoy_json``, which tells a null from an absent key)."""
    return dict(v)


_CADDY_REQUEST = ("method", "uri", "host", "client_ip", "remote_ip", "remote_addr")
# Envoy's JSON keys (proxies/envoy/frame.py: _STATUS ... _RESPONSE_DURATION; log.parse_envoy_json)
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
_ENVOY_CF_KEYS = ("EdgeResponseStatus", "RayID", "response_flags", "response_flag", "responseFlags",
                  "response_code_details", "responseCodeDetails", "upstream_transport_failure_reason",
                  "upstreamTransportFailureReason")
JSON_COUNTS: dict[str, JsonCount] = {c.family: c for c in (
    # proxies/caddy/frame.py: SCHEMA, _NATIVE
    JsonCount(
        "caddy",
        keys=((b"ts", "g", False, False, ()), (b"duration", "g", False, False, ()),
              (b"size", "l", False, False, ()), (b"status", "l", True, False, ()),
              (b"logger", "u", False, False, ()),
              *((f"request.{k}".encode(), "u", False, False, ()) for k in _CADDY_REQUEST),
              (b"resp_headers", "c", False, False, (b"server", b"alt-svc", b"date"))),
        forbidden=_ENVOY_CF_KEYS, nested_ok=True,
        group=(("status", "v"), ("size", "f"), ("resp_headers", "f"), ("request.host", "f")),
        prefix=(("logger", "http.log.access"),), once=('"status"',), obj=_caddy_obj),
    # proxies/traefik/frame.py: SCHEMA, _NATIVE
    JsonCount(
        "traefik",
        keys=(*((k.encode(), "l", k == "DownstreamStatus", False, ()) for k in (
            "DownstreamStatus", "OriginStatus", "OriginContentSize", "RetryAttempts")),
              *((k.encode(), "g", False, False, ()) for k in ("Duration", "OriginDuration")),
              *((k.encode(), "u", False, False, ()) for k in (
                  "ServiceURL", "RouterName", "RequestMethod", "RequestPath", "StartUTC", "time",
                  "ServiceAddr", "ServiceName", "RequestHost", "ClientHost"))),
        forbidden=("EdgeResponseStatus", "RayID", "logger", "caller", *_ENVOY_CF_KEYS[2:]),
        nested_ok=False,
        # below 500 only the status counts (_traefik_own is False there, and the one code it
        # gives without a 5xx, "no router", has no symptom: tested)
        group=(("DownstreamStatus", "v"), ("OriginContentSize", "f"), ("ServiceURL", "f"),
               ("RouterName", "f"), ("ServiceAddr", "f"), ("ServiceName", "f")),
        prefix=(), once=('"DownstreamStatus"',), obj=_as_read),
    # parsers/lblogs/batch.py: CLOUDFLARE_SCHEMA, _CF_NATIVE
    JsonCount(
        "cloudflare",
        keys=((b"EdgeResponseStatus", "l", True, False, ()), (b"OriginResponseStatus", "l", True, False, ()),
              (b"OriginIP", "u", False, False, ()),
              *((k.encode(), "g", False, False, ()) for k in (
                  "OriginResponseHeaderReceiveDurationMs", "OriginResponseDurationMs", "OriginResponseTime")),
              *((k.encode(), "u", False, False, ()) for k in (
                  "ClientRequestMethod", "ClientRequestURI", "ClientRequestPath", "EdgeStartTimestamp",
                  "ClientRequestHost", "ClientIP", "RayID"))),
        forbidden=(), nested_ok=True,
        # every value "v": the edge's own 403/429 (origin status 0) are its failures too
        # (a 429 is "rate-limited"), so the target and host count below 500 as well
        group=(("EdgeResponseStatus", "v"), ("OriginResponseStatus", "v"), ("OriginIP", "v"),
               ("ClientRequestHost", "v")),
        prefix=(), once=('"EdgeResponseStatus"',), obj=_as_read),
    # proxies/envoy/frame.py: SCHEMA (every key text), _NATIVE
    JsonCount(
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
        prefix=(), once=('"response_code"',), obj=_as_read),
)}


def _group_values(raw: bytes, names: tuple[str, ...]) -> dict[str, Any]:
    """A group key of ``json_counts`` (per value: a absent -- left out --, n null, x not empty,
    i + int64, g + double, s + length + text)."""
    out: dict[str, Any] = {}
    k = 0
    for name in names:
        tag = raw[k:k + 1]
        k += 1
        if tag == b"a":
            continue
        if tag == b"n":
            out[name] = None
        elif tag == b"x":
            out[name] = "x"
        elif tag in (b"i", b"g"):
            out[name] = struct.unpack_from("=q" if tag == b"i" else "=d", raw, k)[0]
            k += 8
        else:
            (n,) = struct.unpack_from("=I", raw, k)
            out[name] = raw[k + 4:k + 4 + n].decode("ascii")
            k += 4 + n
    return out


def _json(module: ModuleType, spec: JsonCount, fam: LogFamily) -> BlockCounter:
    args = (spec.keys, tuple(f.encode() for f in spec.forbidden), spec.nested_ok,
            tuple((n.encode(), m) for n, m in spec.group),
            tuple((n.encode(), t.encode()) for n, t in spec.prefix), tuple(t.encode() for t in spec.once))
    names = tuple(n for n, _m in spec.group)
    parse = fam.parse_json
    assert parse is not None
    decided: dict[bytes, tuple[int | None, tuple[str, str] | None]] = {}

    def decide(raw: bytes) -> tuple[int | None, tuple[str, str] | None]:
        got = decided.get(raw)
        if got is None:
            got = decided[raw] = _decided(parse(spec.obj(_group_values(raw, names))))
            if len(decided) > 4096:  # bounded: the group keys of a long run
                decided.clear()
        return got

    def count(data: bytes) -> BlockCounts:
        groups, rest = module.json_counts(data, *args)
        statuses: dict[int, int] = {}
        failures: Counter[tuple[str, str]] = Counter()
        for raw, n in groups.items():
            status, failure = decide(raw)
            if status is not None:
                statuses[status] = statuses.get(status, 0) + n
            if failure is not None:
                failures[failure] += n
        return BlockCounts(statuses, failures, rest)
    return count


def _decided(rec: LbRecord | None) -> tuple[int | None, tuple[str, str] | None]:
    """What ``Watch._lb`` counts of a record: its status (a request's), and (symptom, target or
    group) when it is a failure of the edge's own with a symptom."""
    if rec is None:  # the pass takes no line its family's parser refuses (tested)
        raise ValueError("a group the family's parser does not read")
    status = rec.status if rec.kind == "access" else None
    failed = rec.failed and rec.made_by == "lb" and rec.symptom
    return status, ((rec.symptom or "", rec.target or rec.group or "") if failed else None)


def native_counter(fam: LogFamily | None) -> BlockCounter | None:
    """The native counter of the blocks of family ``fam`` (``proxies.logfamilies.families()``'s:
    a JSON family's groups are decided by its parser), or None: no such pass, not built, or
    turned off (``WHY502_NATIVE=0``: the agent then reads every line as before)."""
    if os.environ.get("WHY502_NATIVE", "1") == "0" or fam is None:
        return None
    if fam.name == "alb":
        module = _module("_albscan")
        return _alb(module) if module is not None and hasattr(module, "alb_counts") else None
    spec = JSON_COUNTS.get(fam.name)
    module = _module("_jsonscan") if spec is not None else None
    if spec is not None and module is not None and hasattr(module, "json_counts"):
        return _json(module, spec, fam)
    return None
