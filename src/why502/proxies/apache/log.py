"""Apache's access log (``LogFormat``/``CustomLog``, mod_log_config) as statistics rows.

A ``LogFormat`` string is compiled to one anchored regular expression (mod_log_config.html,
"Custom Log Formats"): ``%h`` client, ``%t`` ``[time]``, ``%r`` request line, ``%>s``/``%s``
status, ``%b``/``%B`` bytes, ``%D`` time served in microseconds, ``%T`` in seconds
(``%{ms}T``/``%{us}T``/``%{s}T`` in that unit), ``%{Host}i``/``%v``/``%V`` host,
``%{Referer}i``/``%{User-Agent}i``; any other item matches any run (``\\S*``, ``[^"]*`` in
quotes).  Each line is then written in an nginx format the statistics engine reads
(``NGINX_FORMAT``): the time served becomes ``$request_time`` in seconds.  Apache logs no
upstream timings, so who made a 5xx is judged by the engine from the error log, as for an nginx
log without them.

Unless the format has ``%{proxy-status}n``: mod_proxy_http sets the request note
``proxy-status`` to the status code of the backend's status line once it has read a valid one
(mod_proxy_http.c ``ap_proxy_http_process_response``: ``apr_table_setn(r->notes,
"proxy-status", ...)`` right after parsing ``HTTP/1.x NNN``; added in 2.3.14, "Add
'proxy-status' and 'proxy-source-port' request notes for logging").  A request that failed
before that (refused, reset, timed out, no or a corrupt status line: AH00957, AH01102...)
logs ``-`` there.  So a 5xx whose ``%{proxy-status}n`` is the same 5xx is the backend's own,
relayed, provable offline; a 5xx with ``-`` (or another status: Apache replaced the answer)
is Apache's own.  Such a format is written in the engine's ``why502`` format
(``parsers.log_format.WHY502``) with nginx's meanings: ``$upstream_status`` the status,
``$upstream_header_time`` the time served when the backend's status line came (nginx's
"numeric: the backend answered"), else ``-``.  mod_proxy_fcgi, mod_proxy_ajp and the others
set no such note: their 5xx stay unproven here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"'
NICKNAMES = {"combined": COMBINED, "common": '%h %l %u %t "%r" %>s %b',
             "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'}
NGINX_FORMAT = ('$remote_addr - - [$time_local] "$request" $status $body_bytes_sent '
                '"$http_referer" "$http_user_agent" "$host" rt=$request_time')

_ITEM = re.compile(r"%(?:\{([^}]*)\})?[<>]?([a-zA-Z%])")


@dataclass(frozen=True)
class ApacheFormat:
    format: str
    regex: re.Pattern[str]  # for Python's ``re`` (its atomic groups: ``_written``)
    engine: str  # the same regex for polars' engine (Rust's: no atomic group, none needed)
    timed: bool  # has %D or %T: the time served is known
    relay: bool = False  # has %{proxy-status}n: who made a 5xx is in the line (module docstring)
    followed: bool = False  # a line may go on after the format (``guess_log_format``)


def looks_like_error_log(lines: list[str]) -> bool:
    """``Hooks.error_sniff``: at least half of the non-empty ``lines`` start with httpd's
    error-log head (``heads.toml``: ``[Tue Oct 26 17:27:20.477742 2021] [proxy:error] ...``)."""
    from why502.parsers.heads import starts_with_head

    kept = [ln for ln in lines if ln.strip()]
    return bool(kept) and 2 * sum(1 for ln in kept if starts_with_head("apache", ln)) >= len(kept)


def guess_log_format(lines: list[str]) -> tuple[str, bool]:
    """The ``LogFormat`` of an access log no config names, from its first ``lines``: the
    nickname (``combined``, ``common``, ``vhost_combined``) at least half of them match, else
    the one at least half start with and go on after (``%h %l %u %t "%r" %>s %b %D``: a
    ``LogFormat`` in the config nobody gave; the known start is read, the rest not named), else
    ``combined`` as before.  Returns (format, followed)."""
    kept = [ln for ln in lines if ln.strip()]
    for followed in (False, True):
        best, hits = COMBINED, 0
        for fmt in sorted(NICKNAMES.values(), key=len, reverse=True):  # a tie: the longer
            rx = compile_log_format(fmt, followed).regex
            n = sum(1 for ln in kept if rx.match(ln))
            if n > hits:
                best, hits = fmt, n
        if kept and 2 * hits >= len(kept):
            return best, followed
    return COMBINED, False


def compile_log_format(fmt: str, followed: bool = False) -> ApacheFormat:
    """``fmt`` (a ``LogFormat`` string) as the regex of its lines, each item the engine reads a
    named group; ``followed``: the line may go on after the format's last item (a space, then
    anything: ``guess_log_format``)."""
    # literal text and items alternating: (text, "", None), (regex, name or "", its free class)
    tokens: list[tuple[str, str, str | None]] = []
    pos = 0
    used: set[str] = set()
    timed = False
    relay = False
    for m in _ITEM.finditer(fmt):
        tokens.append((fmt[pos:m.start()], "", None))
        pos = m.end()
        arg, code = m.group(1), m.group(2)
        quoted = m.start() > 0 and fmt[m.start() - 1] == '"'
        any_ = r'[^"]*' if quoted else r"\S*"
        name: str | None = None
        rx = any_ if code != "%" else "%"
        low = (arg or "").lower()
        if code in ("h", "a"):
            name, rx = "client", r"\S+"
        elif code == "t" and not arg:
            name, rx = "time", r"\[[^\]]+\]"
        elif code == "r":
            name, rx = "request", r'(?:[^"\\]|\\.)*'
        elif code == "s":
            name, rx = "status", r"\d{3}"
        elif code in ("b", "B", "O", "I"):
            name, rx = ("bytes" if code in ("b", "B") else None), r"\d+|-"
        elif code == "D":
            name, rx, timed = "us", r"\d+", True
        elif code == "T":
            name = {"ms": "ms", "us": "us"}.get(low, "s")
            rx, timed = r"\d+", True
        elif code in ("v", "V") or (code == "i" and low == "host"):
            name, rx = "host", any_
        elif code == "i" and low == "referer":
            name = "referer"
        elif code == "i" and low == "user-agent":
            name = "agent"
        elif code == "n" and low == "proxy-status":
            name, rx, relay = "relayed", r"\d{3}|-", True
        elif code == "p":
            # a port (mod_log_config: ``%p``, ``%{canonical|local|remote}p``), digits only:
            # ``vhost_combined``'s ``%v:%p`` as ``\S*:\S*`` tried the port after every ``:`` of
            # the host's run, each try to the run's end (a 256 KiB ``1:1:...`` line sniffed:
            # minutes, tests/cli/test_qa_long_runs.py)
            rx = r"\d+"
        if name is not None and name not in used:
            used.add(name)
        else:
            name = None
        tokens.append((rx, name or "", any_ if rx == any_ else None))
    tokens.append((fmt[pos:], "", None))
    end = r"(?:\s.*)?$" if followed else r"\s*$"
    return ApacheFormat(fmt, re.compile("^" + _written(tokens, atomic=True) + end),
                        "^" + _written(tokens, atomic=False) + end, timed, relay, followed)


def _written(tokens: list[tuple[str, str, str | None]], atomic: bool) -> str:
    r"""The regex of a format's ``tokens`` -- literal text and items alternating, a literal
    first and last (maybe empty) -- written so that Python's backtracking ``re`` does not try
    every cut of a line that does not match, with the matches and groups it would give:

    * a free item right after another of its class (``%U%q``: ``\S*`` both, an item is
      ``[^"]*`` only right after a quote) matches nothing: the first, greedy, took all of it
      before any other cut was tried, and every cut leaves the rest of the line the same
      (``"%m %U%q %H"``: the square of a run of letters, 0.3 s at 8 KB);
    * a free ``\S*``, a literal without a space (``:``) and a free ``\S*`` ending the run (a
      space next: ``%{Host}i:%{X-Port}i %h``) -- the second ends at the run's end whichever
      ``:`` the first stops at, so the first's greedy stop is the only one tried (an atomic
      group): a ``1:1:...`` run retried from every ``:``, its square (:func:`_stops_once`).
    * a quoted field's first item, then a ``\S*`` that ends the field, side by side or about a
      literal (``"%U%q"``, ``"%{a}i,%{b}i"``): the first stops once too
      (:func:`_quoted_stops_once`).
    ``atomic=False`` leaves the groups out: for Rust's engine, which has none and is linear.
    Shapes still slow on a line that does not match: three items about two literals
    (``%{a}i:%{b}i:%{c}i``)."""
    out: list[str] = []
    inside: set[int] = set()  # literals written in the atomic group before them
    for i, (text, name, _free) in enumerate(tokens):
        if i % 2 == 0:  # a literal
            out.append("" if i in inside else re.escape(text))
            continue
        if _taken_before(tokens, i):
            text = ""  # (the item before took it)
        body = f"(?P<{name}>{text})" if name else f"(?:{text})"
        if atomic and (_stops_once(tokens, i) or _quoted_stops_once(tokens, i)):
            body = f"(?>{body}{re.escape(tokens[i + 1][0])})"
            inside.add(i + 1)
        out.append(body)
    return "".join(out)


def _taken_before(tokens: list[tuple[str, str, str | None]], i: int) -> bool:
    """Item ``i`` is free and right after a free item of its class (:func:`_written`)."""
    free = tokens[i][2]
    return free is not None and i >= 2 and tokens[i - 1][0] == "" and tokens[i - 2][2] == free


def _stops_once(tokens: list[tuple[str, str, str | None]], i: int) -> bool:
    """Item ``i`` is a free ``\\S*``, the literal after it has no space, and the item after
    that is a free ``\\S*`` followed by a space (or the end): whichever of the literal's places
    the item stops at, the next item ends where the run of non-spaces does (:func:`_written`).
    (A quoted item is the first of its field, its class ``[^"]*`` and the next one's ``\\S*``:
    ``"%{a}i,%{b}i"`` is :func:`_quoted_stops_once`'s.)"""
    if tokens[i][2] != r"\S*" or i + 3 >= len(tokens) or tokens[i + 2][2] != r"\S*":
        return False
    lit, after = tokens[i + 1][0], tokens[i + 3][0]
    return bool(lit) and not any(ch.isspace() for ch in lit) and (not after or after[0].isspace())


def _quoted_stops_once(tokens: list[tuple[str, str, str | None]], i: int) -> bool:
    """Item ``i`` is a quoted field's free first item (``[^"]*``), then a literal without a
    quote (maybe none), a free ``\\S*`` and a literal that opens with the field's closing quote
    (``"%U%q"``, ``"%{a}i,%{b}i"``).  The first's greedy stop is the only one to try (an atomic
    group): the ``\\S*`` can end only at a quote, none is before the first's greedy stop, and
    from an earlier stop it reaches those quotes only through the same run of non-spaces -- the
    same places to go on from, so the same answer.  Each earlier stop read the run again: the
    square of a run of letters or commas (0.64-0.76 s for 16 KB, minutes for 256 KiB)."""
    if tokens[i][2] != '[^"]*' or i + 3 >= len(tokens) or tokens[i + 2][2] != r"\S*":
        return False
    return '"' not in tokens[i + 1][0] and tokens[i + 3][0].startswith('"')


def engine_format(fmt: ApacheFormat) -> str:
    """The format the rewritten lines are in: ``why502`` (with the upstream fields) when the
    LogFormat says who made each status (``%{proxy-status}n``), else ``NGINX_FORMAT``."""
    return "why502" if fmt.relay else NGINX_FORMAT


#: the engine's ``NGINX_FORMAT`` filled with :func:`to_fields`, and the ``why502`` format's
#: upstream fields after it (``fmt.relay``): the line ``to_nginx_line`` writes for diagnose
NGINX_LINE = ('{remote_addr} - - [{time_local}] "{request}" {status} {body_bytes_sent} '
              '"{http_referer}" "{http_user_agent}" "{host}" rt={request_time}')
UPSTREAM_LINE = (' ua="{upstream_addr}" us="{upstream_status}" uct="{upstream_connect_time}" '
                 'uht="{upstream_header_time}" urt="{upstream_response_time}"')


#: the engine's variables :func:`to_values` gives, in order (``UPSTREAM_FIELDS`` after them for a
#: format with ``%{proxy-status}n``)
FIELDS = ("remote_addr", "time_local", "request", "status", "body_bytes_sent", "http_referer",
          "http_user_agent", "host", "request_time")
UPSTREAM_FIELDS = ("upstream_addr", "upstream_status", "upstream_connect_time", "upstream_header_time",
                   "upstream_response_time")


def field_names(fmt: ApacheFormat) -> tuple[str, ...]:
    """The engine's variables :func:`to_values` gives for ``fmt``."""
    return FIELDS + UPSTREAM_FIELDS if fmt.relay else FIELDS


def to_values(line: str, fmt: ApacheFormat, upstream: str = "-") -> tuple[str, ...] | None:
    """The line's facts under the statistics engine's names (:func:`field_names`: nginx's
    variables of ``engine_format(fmt)``, with nginx's meanings), or None when it does not match
    ``fmt``.  ``upstream`` is the backend a proxied request went to, when the config has only
    one.  A tuple, not a dict: ``stats`` calls it on every line."""
    m = fmt.regex.match(line.rstrip("\n"))
    if not m:
        return None
    g = m.groupdict()
    if g.get("us") is not None:
        secs = int(g["us"]) / 1e6
    elif g.get("ms") is not None:
        secs = int(g["ms"]) / 1e3
    else:
        secs = float(g.get("s") or 0)
    nbytes = g.get("bytes") or "0"
    status = g.get("status") or "000"
    taken = f"{secs:.3f}"
    out = (g.get("client") or "-", (g.get("time") or "[-]").strip("[]"), g.get("request") or "-",
           status, nbytes if nbytes != "-" else "0", g.get("referer") or "-", g.get("agent") or "-",
           g.get("host") or "-", taken)
    if not fmt.relay:
        return out
    backend = g.get("relayed") or "-"
    if backend == status:  # the backend's status line, passed on: relayed
        return (*out, upstream, status, "-", taken, taken)
    if status.startswith("5"):  # Apache's own 5xx: no (or another) status line from the backend
        return (*out, upstream, status, "-", "-", taken)
    return (*out, "-", "-", "-", "-", "-")  # not proxied, or not a 5xx


def to_fields(line: str, fmt: ApacheFormat, upstream: str = "-") -> dict[str, str] | None:
    """:func:`to_values` by name."""
    values = to_values(line, fmt, upstream)
    return None if values is None else dict(zip(field_names(fmt), values))


def to_nginx_line(line: str, fmt: ApacheFormat, upstream: str = "-") -> str | None:
    """The line in ``engine_format(fmt)`` (:func:`to_fields`), or None when it does not match
    ``fmt``."""
    fields = to_fields(line, fmt, upstream)
    if fields is None:
        return None
    return NGINX_LINE.format(**fields) + (UPSTREAM_LINE.format(**fields) if fmt.relay else "")
