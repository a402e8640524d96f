"""A request line of an access log in the common log format -- the start nginx's ``combined`` and
``main`` formats and Apache's ``common``/``combined`` write, whatever fields follow -- known by its
shape alone, without being told the format.

Why: ``classify`` reads the words of error logs.  An access line is a request the proxy
answered, not a message about a failure: its status is ``stats``' to count.  Read as an error
line, each 5xx request went through the prose rules that read "502" in a sentence (~30-100 us a
line: 37 s for an Apache access log of 1M lines with ``%D`` at the end, which no predefined
format matched, BENCHMARKS.md stop 58), to find nothing; and the same log's head, in no
predefined format, was not recognised as an access log, so ``classify`` called a log full of
502s healthy (exit 0).

The shape, from the formats' definitions:

- nginx ``log_format combined``: ``$remote_addr - $remote_user [$time_local] "$request" $status
  $body_bytes_sent "$http_referer" "$http_user_agent"``, ``$time_local`` in the common log format
  (``18/Nov/2026:10:00:00 +0000``; nginx docs, ngx_http_log_module);
- Apache ``LogFormat "%h %l %u %t \\"%r\\" %>s %b"`` (``common``), ``%t`` being
  ``[day/month/year:hour:minute:second zone]`` and ``%v:%p`` in front in ``vhost_combined``
  (httpd docs, mod_log_config "Custom Log Formats"); Apache escapes a quote in the request as
  ``\\"``, nginx as ``\\x22``.

The date must carry its zone and no fraction: HAProxy's session lines (``client:port
[21/Nov/2026:10:00:00.123] frontend ...``) have one token before the bracket and a fraction, and
stay the session rules' (``parsers.heads.session_line``).  The pattern is in the syntax common to
Python ``re`` and Rust ``regex`` (polars): the batch engine filters with it too.
"""

from __future__ import annotations

import re

CLF_REQUEST = (
    r'^(?:[^\s\[]+ ){3,4}\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] '
    r'"(?:[^"\\]|\\.)*" (?P<status>[0-9]{3}) (?:[0-9]+|-)(?: |\r?$)'
)
"""The start of a request line in the common log format, up to its status and size."""

_QUOTED = r'"(?:[^"\\]|\\.)*"'
# Python's ``re`` keeps a backtracking mark for each repetition of ``(?:a|b)*``: ~150 bytes a
# character, 153 MB for a 1 MiB request (a log cut at 1 MiB a line; the per-line recogniser asks
# every line it reads).  The same language with possessive repeats -- its two branches and the
# closing quote share no character, so nothing is ever given back -- keeps none: 0 MB, 9 ms
# there instead of 166.  Rust's ``regex`` (polars) has no possessive repeats, and needs none
# (a DFA keeps no such marks): it keeps ``CLF_REQUEST``.
_CLF_REQUEST = re.compile(CLF_REQUEST.replace(_QUOTED, r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'))
assert _CLF_REQUEST.pattern != CLF_REQUEST


def clf_status(text: str) -> int | None:
    """The status of ``text`` when it is a request line in the common log format, else None."""
    m = _CLF_REQUEST.match(text)
    return int(m.group("status")) if m is not None else None


def is_clf_request(text: str) -> bool:
    """Whether ``text`` is a request line in the common log format (module doc)."""
    return _CLF_REQUEST.match(text) is not None
