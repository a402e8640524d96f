"""The counting spec of this proxy's JSON access lines for ``watch``'s native counter
(``parsers.lblogs.counts``), declared by its log family (``log.py``: ``LogFamily.counts``);
polars-free, as the agent is."""

from __future__ import annotations

from typing import Any

from why502.parsers.lblogs.countspec import OTHER_EDGE_KEYS, JsonCount, JsonFoldSpec

_CADDY_REQUEST = ("method", "uri", "host", "client_ip", "remote_ip", "remote_addr")


def _caddy_obj(v: dict[str, Any]) -> dict[str, Any]:
    """A group of Caddy's access lines as ``caddy.log.parse_caddy`` reads it: its status, size,
    host, and as many response headers not among Caddy's own as the pass counted."""
    headers = v.get("resp_headers")
    host = v.get("request.host")
    return {"logger": "http.log.access", "status": v["status"], "size": v.get("size"),
            "resp_headers": None if headers is None else {f"x-{i}": [] for i in range(headers)},
            "request": None if host is None else {"host": host}}


#: ``watch``'s native counting of Caddy's access lines (``parsers.lblogs.counts``; its column
#: pass's spec: proxies/caddy/frame.py ``SCHEMA``, ``_NATIVE``)
COUNTS = JsonCount(
    "caddy",
    keys=((b"ts", "g", False, False, ()), (b"duration", "g", False, False, ()),
          (b"size", "l", False, False, ()), (b"status", "l", True, False, ()),
          (b"logger", "u", False, False, ()),
          *((f"request.{k}".encode(), "u", False, False, ()) for k in _CADDY_REQUEST),
          (b"resp_headers", "c", False, False, (b"server", b"alt-svc", b"date"))),
    forbidden=OTHER_EDGE_KEYS, nested_ok=True,
    group=(("status", "v"), ("size", "f"), ("resp_headers", "f"), ("request.host", "f")),
    prefix=(("logger", "http.log.access"),), once=('"status"',), obj=_caddy_obj)


def _fold_obj(v: dict[str, Any]) -> dict[str, Any]:
    """A group of the fold as ``parse_caddy`` reads it: ``_caddy_obj``'s keys and the time."""
    return {**_caddy_obj({"status": None, **v}), "ts": v.get("ts")}


#: what ``stats`` counts of its access lines in the native pass (``parsers.lblogs.jsonfold``):
#: ``parse_caddy`` decides made_by and the code from the status and, from 500 on, whether the
#: answer is Caddy's own (no body, no header but its own); the group is the request's host; no
#: target or timing is logged; a row's time is ``ts`` (Unix seconds); its other loggers' lines
#: (errors, the proxy's own) are rows
FOLD = JsonFoldSpec(
    time="ts", decide=(("status", "v"), ("size", "f"), ("resp_headers", "f")),
    per=(("request.host", "v"),), timing=(), prefix=(("logger", "http.log.access"),), obj=_fold_obj)
