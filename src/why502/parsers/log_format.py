"""Compile an nginx ``log_format`` string into one anchored regular expression.

Why a compiler: an access log is only as useful as our knowledge of its layout, and the layout is
whatever ``log_format`` said (``ngx_http_log_module.c`` ``ngx_http_log_compile_format()``): literal
text and ``$variable`` / ``${variable}`` references, concatenated with no separators of their own.
Matching a line therefore means matching the literal text exactly and each variable with a
pattern that fits what nginx writes for it.

The regex is written for the Rust ``regex`` crate (polars ``str.extract_groups``): named groups,
no look-around, no back-references.  Only the variables the statistics need are capturing groups
(fewer captures is faster); the rest are non-capturing.

Escaping (``log_format name escape=default|json|none``, ``ngx_http_log_escape()`` and
``ngx_http_log_json_variable()``): with ``default`` nginx writes ``"``, ``\\`` and bytes outside
0x20..0x7e as ``\\xXX``, so a quoted variable never contains a raw ``"``; with ``json`` it writes
``\\"`` and ``\\\\`` and control characters as ``\\u00XX``; with ``none`` nothing is escaped (a
raw quote in a header can then break the line's layout: such lines are counted as unparsed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from why502.errors import UsageError

# ngx_http_log_module.c: ngx_http_combined_fmt (the only predefined format in nginx itself).
COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)

# Not built into nginx, but the ``main`` format every distribution's stock nginx.conf defines
# (nginx.org packages, Debian's commented example, the official Docker image).
MAIN = COMBINED + ' "$http_x_forwarded_for"'

# The format why502 recommends (docs/guide/stats.md): combined plus the host and every
# upstream field needed to tell who made a 5xx (proxy-messages.md section 1.3).
WHY502 = (
    COMBINED + ' "$host" rt=$request_time ua="$upstream_addr" us="$upstream_status"'
    ' uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time"'
)

# The "upstream timings" format popularised by the nginx blog ("Using NGINX Logging for
# Application Performance Monitoring"), found in many configs as ``upstream_time``.
UPSTREAM_TIME = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" '
    'uht="$upstream_header_time" urt="$upstream_response_time"'
)

# combined + key="value" upstream fields: the format of the recorded lab fixtures
# (tests/fixtures/recorded/*/nginx.conf, ``log_format why502`` there) and a common style.
UPSTREAM_KV = (
    COMBINED + ' upstream_addr="$upstream_addr" upstream_status="$upstream_status"'
    ' upstream_connect_time="$upstream_connect_time" upstream_header_time="$upstream_header_time"'
    ' upstream_response_time="$upstream_response_time" request_time=$request_time'
)

# A typical JSON access log (``escape=json``).
JSON = (
    '{"time":"$time_iso8601","remote_addr":"$remote_addr","host":"$host",'
    '"request":"$request","status":$status,"body_bytes_sent":$body_bytes_sent,'
    '"request_time":$request_time,"upstream_addr":"$upstream_addr",'
    '"upstream_status":"$upstream_status","upstream_connect_time":"$upstream_connect_time",'
    '"upstream_header_time":"$upstream_header_time",'
    '"upstream_response_time":"$upstream_response_time","http_user_agent":"$http_user_agent"}'
)

PREDEFINED: dict[str, tuple[str, str | None]] = {
    "combined": (COMBINED, None),
    "main": (MAIN, None),
    "why502": (WHY502, None),
    "upstream_time": (UPSTREAM_TIME, None),
    "upstream_kv": (UPSTREAM_KV, None),
    "json": (JSON, "json"),
}
"""The formats ``--log-format`` takes by name: nginx's own and common ones, then each proxy
folder's (``proxies/<name>/log_formats.toml``: ``[[format]]`` ``name``, ``format``, ``escape``),
read as package data through ``catalog.folders`` so this module names no proxy (issue 23)."""


def _folder_formats() -> dict[str, tuple[str, str | None]]:
    from why502.catalog.folders import folder_tables

    out: dict[str, tuple[str, str | None]] = {}
    for _folder, data in folder_tables("log_formats.toml"):
        for f in data.get("format", []):
            out.setdefault(str(f["name"]), (str(f["format"]), f.get("escape")))
    return out


PREDEFINED.update((k, v) for k, v in _folder_formats().items() if k not in PREDEFINED)

# Variables the statistics read.  Everything else in a format is matched but not captured.
CAPTURED = frozenset(
    {
        "remote_addr",
        "time_local",
        "time_iso8601",
        "msec",
        "request",
        "request_uri",
        "uri",
        "status",
        "host",
        "http_host",
        "server_name",
        "upstream_addr",
        "upstream_status",
        "upstream_connect_time",
        "upstream_header_time",
        "upstream_response_time",
    }
)

# Variables nginx always writes with the same number of characters.
FIXED_WIDTH: dict[str, int] = {"status": 3, "time_local": 26}

# One value of a multi-valued $upstream_* variable, then more joined by ", " (attempts) or
# " : " (internal redirects): ngx_http_upstream.c ngx_http_upstream_addr_variable(),
# ngx_http_upstream_status_variable(), ngx_http_upstream_response_time_variable().
_UPSTREAM_LIST = r'[^\s,"]+(?:(?:, | : )[^\s,"]+)*'

# Patterns for variables whose text nginx writes in a fixed shape.
FIXED_SHAPES: dict[str, str]
_FIXED: dict[str, str] = {
    "status": r"\d{3}",  # ngx_http_log_status(): "%03ui"
    "time_local": r"\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
    "time_iso8601": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:\d{2}|Z)",
    "msec": r"\d+\.\d+",
    "request_time": r"\d+\.\d+",
    "body_bytes_sent": r"\d+",
    "bytes_sent": r"\d+",
    "request_length": r"\d+",
    "connection": r"\d+",
    "connection_requests": r"\d+",
    "pid": r"\d+",
    "upstream_addr": _UPSTREAM_LIST,
    "upstream_status": _UPSTREAM_LIST,
    "upstream_connect_time": _UPSTREAM_LIST,
    "upstream_header_time": _UPSTREAM_LIST,
    "upstream_response_time": _UPSTREAM_LIST,
    "upstream_bytes_received": _UPSTREAM_LIST,
    "upstream_bytes_sent": _UPSTREAM_LIST,
    "upstream_response_length": _UPSTREAM_LIST,
    "upstream_cache_status": r"[A-Z_]+|-",
}

FIXED_SHAPES = _FIXED
_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


@dataclass(frozen=True)
class ByteChunk:
    """Whole access-log lines as raw bytes (ending at a newline or at the end of the input), the
    unit the parsers take: ``sources.byte_chunks`` produces them, ``evidence.stats`` parses them.
    ``first_line`` is the 1-based number of the first line in ``path``."""

    path: str
    first_line: int
    data: bytes | memoryview  # a view: ``sources.byte_chunks``' ``views``
    # a view's: hands its buffer back to the reader; the consumer calls ``done`` once it no
    # longer reads ``data``
    release: Callable[[], None] | None = None

    def done(self) -> None:
        """The consumer no longer reads ``data`` (a view's buffer goes back to the reader)."""
        if self.release is not None:
            self.release()


@dataclass(frozen=True)
class CompiledFormat:
    """A ``log_format`` ready to match lines.

    ``pattern`` is the anchored Rust-compatible regex; ``fields`` the captured variable names in
    group order (group names equal the variable names); ``variables`` every variable the format
    mentions, in order.
    """

    name: str | None
    format: str
    escape: str | None
    pattern: str
    fields: tuple[str, ...]
    variables: tuple[str, ...] = field(default=())

    def has(self, variable: str) -> bool:
        """True when the format captures ``variable``."""
        return variable in self.fields

    @property
    def time_field(self) -> str | None:
        """The variable that gives the request time (first of time_local, time_iso8601, msec)."""
        for name in ("time_local", "time_iso8601", "msec"):
            if name in self.fields:
                return name
        return None

    @property
    def host_field(self) -> str | None:
        """The variable naming the virtual host ($host, else $server_name, else $http_host)."""
        for name in ("host", "server_name", "http_host"):
            if name in self.fields:
                return name
        return None


def resolve_format(
    spec: str, log_formats: dict[str, tuple[str, str | None]] | None = None
) -> tuple[str | None, str, str | None]:
    """Turn ``--log-format`` (a name or a format string) into ``(name, format, escape)``.

    A value without ``$`` is taken as a name: first the formats defined in the nginx config
    (``log_formats``), then the predefined ones (``PREDEFINED``).
    """
    if "$" in spec:
        escape = None
        text = spec.strip()
        m = re.match(r"escape=(default|json|none)\s+", text)
        if m:
            escape, text = m.group(1), text[m.end() :]
        return None, text, escape
    name = spec.strip()
    if log_formats and name in log_formats:
        fmt, escape = log_formats[name]
        return name, fmt, escape
    if name in PREDEFINED:
        fmt, escape = PREDEFINED[name]
        return name, fmt, escape
    known = sorted(set(PREDEFINED) | set(log_formats or {}))
    raise UsageError(
        f"unknown log format name {name!r} (known: {', '.join(known)}; "
        "or give the format string itself, with its $variables)"
    )


def _generic(next_char: str | None, escape: str | None) -> str:
    """Pattern for a variable of free text, bounded by the literal character that follows it."""
    if next_char is None:
        return r".*"
    if next_char == '"' and escape == "json":
        return r'(?:[^"\\]|\\.)*'
    if next_char == "\\":
        return r"[^\\]*"
    return "[^" + re.escape(next_char).replace("]", r"\]") + "]*"


def _before_variable(nxt: str, after: tuple[str, str] | None, escape: str | None) -> str:
    r"""Pattern for a variable of free text followed at once by variable ``nxt`` (``$host$uri``;
    ``after``: the piece after ``nxt``): nothing tells where one ends and the other begins, so
    the first is as short as the line lets it be -- ``.*?``, the same match, written so that a
    backtracking engine (Python's ``re``: the config's formats tried on a log's first lines,
    ``--since`` on its first and last, ``watch``) does not try every cut.  ``.*?`` before a
    ``[^c]*`` variable and its literal ``c...`` tried each start of the second, and each try ran
    to the next ``c``: the square of a line without one (15 s for 40 KB of ``stats --config``,
    ~10 minutes for the 256 KiB head, tests/cli/test_qa_long_runs.py).  Every start between
    two ``c`` ends the second variable at the same ``c`` and leaves the rest the same line, so
    only the starts after each ``c`` are tried -- ``(?:[^c\n]*c)*?``, the same first match;
    and when the second takes anything itself (``.*?`` before another variable, or ``.*`` at
    the end), every cut leaves the same rest, so the first variable is empty, as ``.*?`` first
    tried.  A fixed shape next stays ``.*?`` (each try ends at once).  With ``escape=json`` the
    second may be a quoted value (``(?:[^"\\]|\\.)*``), whose end depends on where it starts
    (an escape cut in two): the first is empty, the same match on every line nginx writes; a line
    it did not write (a lone backslash before a quote) may be read otherwise than ``.*?`` read it,
    or not at all."""
    if nxt in _FIXED:
        return r".*?"
    if after is None or after[0] == "var":
        return ""
    stop = after[1][0]
    cls = re.escape(stop).replace("]", r"\]")
    if stop == '"' and escape == "json":
        # the second a JSON-escaped value up to its closing quote: on a line nginx wrote (each
        # value escaped) the empty first leaves the second the whole value, which ends where
        # the line's own quote is -- the first cut ``.*?`` tried, and the one it found
        return ""
    if stop == "\n":
        return r".*?"
    return f"(?:[^{cls}\\n]*{cls})*?"  # (the second is ``_generic(stop)``: ``[^c]*``)


def split_pieces(fmt: str) -> list[tuple[str, str]]:
    """``fmt`` as ``("lit", text)`` and ``("var", name)`` pieces, in order."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    for m in _VAR.finditer(fmt):
        if m.start() > pos:
            pieces.append(("lit", fmt[pos : m.start()]))
        pieces.append(("var", m.group(1) or m.group(2)))
        pos = m.end()
    if pos < len(fmt):
        pieces.append(("lit", fmt[pos:]))
    return pieces


def compile_format(
    fmt: str,
    escape: str | None = None,
    name: str | None = None,
    capture: frozenset[str] = CAPTURED,
    require_status: bool = True,
) -> CompiledFormat:
    """Compile ``fmt`` (the log_format string, quotes already joined) into a ``CompiledFormat``.

    Raises ``UsageError`` when the format has no ``$status`` (nothing to count) or no variable
    at all (``require_status=False`` compiles a piece of a format, for the quote-split parser).
    """
    if escape not in (None, "default", "json", "none"):
        raise UsageError(f"unknown log_format escape {escape!r} (default, json, none)")
    pieces = split_pieces(fmt)
    variables = tuple(p[1] for p in pieces if p[0] == "var")
    if not variables and require_status:
        raise UsageError("the log format has no $variables")
    if "status" not in variables and require_status:
        raise UsageError("the log format has no $status: there is nothing to count")

    out: list[str] = ["^"]
    fields: list[str] = []
    for i, (kind, value) in enumerate(pieces):
        if kind == "lit":
            out.append(re.escape(value))
            continue
        nxt = pieces[i + 1] if i + 1 < len(pieces) else None
        if value in _FIXED:
            body = _FIXED[value]
            # A fixed shape inside quotes can still be "-" (e.g. $upstream_* with no upstream).
            if value in ("status", "time_local", "time_iso8601", "msec"):
                pass
            elif value.startswith("upstream_"):
                # "-" when unset; empty when nginx never got a peer name (e.g. socket() failed:
                # tests/fixtures/recorded/fd-limit has upstream_addr="")
                body = f"(?:{body}|-)?"
            else:
                body = f"(?:{body}|-)"
        elif nxt is None:
            body = _generic(None, escape)
        elif nxt[0] == "lit":
            body = _generic(nxt[1][0], escape)
        else:
            body = _before_variable(nxt[1], pieces[i + 2] if i + 2 < len(pieces) else None, escape)
        if value in capture and value not in fields:
            fields.append(value)
            out.append(f"(?P<{value}>{body})")
        else:
            out.append(f"(?:{body})")
    out.append(r"\r?$")
    return CompiledFormat(
        name=name, format=fmt, escape=escape, pattern="".join(out), fields=tuple(fields), variables=variables
    )
