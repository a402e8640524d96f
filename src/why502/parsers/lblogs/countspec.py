"""A JSON family's counting spec for ``watch``'s native counter (``parsers/lblogs/counts.py``):
the data each family declares in its own definition (``LogFamily.counts``), polars-free, so the
agent can read it without the column pass's polars schema.  Shared here: the spec's type, the
``obj`` most families use, and the other families' keys a family's guards refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def as_read(v: dict[str, Any]) -> dict[str, Any]:
    """A group of lines as the family's parser reads them: the keys it decides on that the lines
    hold, with their values (Traefik's ``parse_traefik_json``, Cloudflare's ``parse_cloudflare``,
    Envoy's ``parse_envoy_json``, which tells a null from an absent key)."""
    return dict(v)


#: keys only Cloudflare's Logpush lines and the mesh proxy's JSON lines hold: a family whose
#: guards refuse them (its column pass's ``forbidden``) names them from here
OTHER_EDGE_KEYS = ("EdgeResponseStatus", "RayID", "response_flags", "response_flag", "responseFlags",
                   "response_code_details", "responseCodeDetails", "upstream_transport_failure_reason",
                   "upstreamTransportFailureReason")


#: a part of a fold's table: (key, mode) -- ``_jsonscan.c``'s fold: 'v' the value, 'f' the value
#: from status 500 on, 'e' whether it is empty, 'm' the minute of the time key, 'q' / 'n' a
#: timing in ms / ns read at the tenth of a millisecond (``evidence.lbstats._TIMING``: the
#: reader's timing of the value handed on is the timing rounded as the accumulator rounds it)
FoldPart = tuple[str, str]


@dataclass(frozen=True)
class JsonFoldSpec:
    """What ``stats`` counts of a JSON family's lines in the native pass instead of as rows
    (``parsers/lblogs/jsonfold.py``): ``time`` the key each row's time is read from (a row whose
    time is another key's goes out as a row), ``decide`` the parts the family's parser decides
    a row's status, who made it, its code and retries from, ``per`` the parts it reads the target
    and the target group from, ``timing`` those of the upstream timing, and ``timing_reads`` the
    keys of ``decide`` and ``per`` the timing's reading depends on as well (Traefik's: no timing
    without a service URL).  Every key the parser reads for those must be among them:
    ``tests/stats/test_json_fold.py`` holds the fold's ``stats`` equal to the rows'."""

    time: str  # a string (an ISO time) or a number (Unix seconds, ``_jsonscan.c``)
    decide: tuple[FoldPart, ...]
    per: tuple[FoldPart, ...]
    timing: tuple[FoldPart, ...]
    timing_reads: tuple[str, ...] = ()
    #: the keys that must hold a string starting with a text, else the line is a row (Caddy's
    #: logger: its error lines are no requests)
    prefix: tuple[tuple[str, str], ...] = ()
    #: a group's values as the object the parser is given (the parts' values by key, as read;
    #: nested keys written ``parent.name``, a counted key as its count)
    obj: Callable[[dict[str, Any]], dict[str, Any]] = as_read
    #: the timing of a frame of groups (the parts' columns) as the family's column reader
    #: computes it (a Series or expression), when it has one: a timing of many values (a time in
    #: nanoseconds) is then not read once per value by the parser
    timing_of: Callable[[Any], Any] | None = None
