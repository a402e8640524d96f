"""HAProxy httplog lines as rows of the access-log statistics (``why502 stats``).

HAProxy's ``option httplog`` line (configuration.txt 8.2.3) is::

    %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r

with the timers in milliseconds (8.4): ``TR`` to receive the request, ``Tw`` in the queues,
``Tc`` to connect to the server, ``Tr`` for the server's response headers (-1: none came),
``Ta`` the whole request.  Who made the status is the termination state's (8.5): its second
letter is the phase the session was in when it ended -- ``R`` request, ``Q`` queue, ``C``
connect, ``H`` waiting for or reading the response headers, ``T`` tarpit -- and a session that
ended in one of those never passed a server's status on: HAProxy wrote it (``SH`` 502 "the
server aborted before sending its full headers", ``sH`` 504, ``PH`` 502 "the proxy blocked the
server's response because it was invalid", whatever ``Tr`` says: the manual's own ``PH``
example has ``Tr`` 1).  ``----`` (normal completion) or a ``D``/``L`` phase means the
server's headers went through, with the server's status: a 5xx on such a line is the
backend's, relayed.  The statistics engine reads nginx's variables, so each line is
rewritten into the engine's ``why502`` format (``parsers.log_format.WHY502``) with nginx's
meanings: ``$upstream_connect_time`` = Tc, ``$upstream_header_time`` = Tc + Tr (nginx counts from
the connect), ``-`` when HAProxy got no header (it made the 5xx itself, as nginx's ``-``),
``$upstream_response_time`` = the time spent on the server side (Tc onwards), ``$request_time``
= Ta, ``$upstream_addr`` = the server's address from the config (else ``backend/server``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

HTTPLOG = re.compile(
    r"(?P<client>[\w.:\[\]-]+?):\d+ \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d)(?:\.\d+)?\] "
    r"(?P<frontend>\S+) (?P<backend>[^/\s]+)/(?P<server>\S+) "
    r"(?P<TR>-?\d{1,18})/(?P<Tw>-?\d{1,18})/(?P<Tc>-?\d{1,18})/(?P<Tr>-?\d{1,18})/\+?(?P<Ta>-?\d{1,18}) "
    r"(?P<status>\d{3}) \+?(?P<bytes>\d+) \S+ \S+ (?P<ts>[-A-Za-z]{4}) "
    r"\S+ \S+(?: \{[^}]*\})*(?: \"(?P<request>[^\"]*)\"?)?")


# termination-state phases (the second letter, configuration.txt 8.5) in which the server's
# response headers had not been passed on: a status logged then is HAProxy's own
_OWN_PHASES = frozenset("RQCHT")


def _secs(ms: int) -> str:
    return f"{max(ms, 0) / 1000:.3f}"


def to_nginx_line(line: str, addresses: Mapping[str, str] | None = None,
                  zone: str | None = None) -> str | None:
    """The line in the ``why502`` nginx format, or None when it is no httplog request line.

    ``addresses`` maps ``backend/server`` to ``host:port`` (``proxies.haproxy.facts`` aliases);
    ``zone`` is the ``+hhmm`` offset HAProxy's local time is in (default: this machine's).
    """
    m = HTTPLOG.search(line)
    if not m:
        return None
    tr, tw, tc, t_r, ta = (int(m.group(k)) for k in ("TR", "Tw", "Tc", "Tr", "Ta"))
    server = m.group("server")
    name = f"{m.group('backend')}/{server}"
    status = m.group("status")
    addr = m.group("backend") if server == "<NOSRV>" else (addresses or {}).get(name, name)
    connected = tc >= 0
    # the server's headers reached the client (module docstring): the status is the server's
    relayed = connected and t_r >= 0 and m.group("ts")[1] not in _OWN_PHASES
    uct = _secs(tc) if connected else "-"
    uht = _secs(tc + t_r) if relayed else "-"
    urt = _secs(ta - max(tr, 0) - max(tw, 0)) if connected else "-"
    if zone is None:
        zone = datetime.now().astimezone().strftime("%z")
    request = (m.group("request") or "-").replace('"', "%22")
    return (f'{m.group("client")} - - [{m.group("time")} {zone}] "{request}" {status} '
            f'{m.group("bytes")} "-" "-" "-" rt={_secs(ta)} ua="{addr}" us="{status}" '
            f'uct="{uct}" uht="{uht}" urt="{urt}"')


def looks_like_httplog(lines: list[str]) -> bool:
    """Do most of these lines look like HAProxy httplog lines?"""
    hits = sum(1 for ln in lines if HTTPLOG.search(ln))
    return hits > 0 and hits * 2 >= len([ln for ln in lines if ln.strip()])
