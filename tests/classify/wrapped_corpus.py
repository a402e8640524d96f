"""Framed lines: the framings both fast engines peel (the native scanner, the polars engine's
``parsers.errorlog_peel``), the odd lines next to them that each must leave to the per-line
recogniser, and the plain failure they frame (``REFUSED``), shared by the engine-equality tests
(per-line vs polars, polars vs native)."""

from __future__ import annotations

HEAD = "2024/05/01 12:00:01 [error] 7#7: *9 "
REFUSED = HEAD + ("connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, "
                  'server: x, request: "GET / HTTP/1.1", upstream: "http://10.0.0.1:80/a", host: "x"')


def docker_json_file(line: str, stream: str = "stderr", time: str = "2024-05-01T12:00:01.123456789Z") -> str:
    """A line as docker's json-file driver writes it: moby's ``jsonlog.MarshalJSONBuf`` (no spaces,
    ``log``, ``stream``, ``time``) and ``ffjsonWriteJSONBytesAsString`` (quote, backslash, \\n, \\r
    escaped; the other controls and ``<``, ``>``, ``&`` as ``\\u00XX``)."""
    out = []
    for ch in line + "\n":
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ch in "<>&":
            out.append(f"\\u00{ord(ch):02x}")
        else:
            out.append(ch)
    return '{"log":"' + "".join(out) + f'","stream":"{stream}","time":"{time}"}}'


NATIVE_WRAPPERS = {
    "docker-json-file": docker_json_file,
    "docker-json-file-stdout": lambda s: docker_json_file(s, "stdout", "2024-05-01T12:00:01Z"),
    "cri-partial": lambda s: f"2024-05-01T12:00:01.123456789+02:00 stdout P {s}",
    "cri-no-space": lambda s: f"2024-05-01 12:00:01,5 stderr F{s}",
    "timestamps-zone": lambda s: f"2024-05-01T12:00:01+0530 {s}",
}


TS = "2024-05-01T12:00:01.123456789Z "
CRI = "2024-05-01T12:00:01.123456789Z stderr F "
UNRECOGNISED = HEAD + 'open() "/srv/x" failed (2: No such file or directory), client: 1.2.3.4, server: x'
ODD_WRAPPED = [
    # each wrapper shape the scanner peels, and the shapes next to them it must leave alone
    TS + REFUSED, CRI + REFUSED, CRI[:-1] + REFUSED, CRI.replace("stderr F", "stdout P") + REFUSED,
    CRI.replace("stderr F", "stderr X") + REFUSED, CRI.replace("F ", "F  ") + REFUSED,
    TS.replace("T", " ") + REFUSED, TS.replace(".123456789Z", ",5-07:00") + REFUSED,
    TS.replace(".123456789Z", "+05:3") + REFUSED, TS.replace(".123456789Z", "Zx") + REFUSED,
    TS + TS + REFUSED, TS + "web-1  | " + REFUSED, "web-1  | " + REFUSED, "<11>" + REFUSED,
    TS + REFUSED.replace("*9 ", ""),
    TS + REFUSED.replace("*9 ", "[client 1.2.3.4] "),  # RFC 5424's "[sd] " shape behind a timestamp
    TS + REFUSED.replace("*9 ", "- "),
    TS + REFUSED.replace("*9 ", "*9 [client 1.2.3.4] "),
    TS + REFUSED.replace('"', '\\"'), TS + REFUSED + "\\n", TS + "\t" + REFUSED,
    docker_json_file(REFUSED), docker_json_file(REFUSED.replace("GET /", "GET /?a=1&b=<2>")),
    docker_json_file(REFUSED).replace('"stream"', '"attrs":{"tag":"x"},"stream"'),
    docker_json_file(REFUSED).replace('":"', '": "'), docker_json_file(REFUSED) + " ",
    docker_json_file(REFUSED.replace("GET /", "GET /?a&b")).replace("\\u0026", "\\u00e9"),
    docker_json_file(REFUSED.replace("GET /", "GET /?a&b")).replace("\\u0026", "\\u00E9"),
    docker_json_file(REFUSED.replace("GET /", "GET /?a&b")).replace("\\u0026", "\\u002"),
    docker_json_file(REFUSED.replace("GET /", "GET /?a&b")).replace("\\u0026", "\\u0G26"),
    docker_json_file(REFUSED.replace("x", "&x")),
    docker_json_file(REFUSED).replace("connect()", "connect\\u2028()"),
    docker_json_file(REFUSED).replace("connect()", "connect\\/()"),
    # escapes docker never writes, hiding the key phrase from the raw line's prefilter
    docker_json_file(REFUSED).replace("connect()", "\\u0063onnect()"),
    docker_json_file(REFUSED.replace("*9 ", "")).replace("upstream sent", "upstream\\u0020sent"),
    docker_json_file(HEAD + 'upstream sent HTTP/1.0 response with early hints').replace("/", "\\/"),
    docker_json_file(REFUSED).replace("connect()", "connect\\x()"),
    docker_json_file(REFUSED).replace("connect()", "connect\t()"),
    docker_json_file(REFUSED).replace("\\n\"", '\\n\\n\\r\"'),
    docker_json_file(REFUSED).replace("connect()", "connect\\n()"),
    docker_json_file(REFUSED + "\\"), docker_json_file(REFUSED + '\\"'),
    docker_json_file(REFUSED + "\\n"),
    docker_json_file(REFUSED)[:-3], docker_json_file(REFUSED).replace("stderr", "console"),
    docker_json_file(REFUSED.replace("*9 ", "")), docker_json_file("\t" + REFUSED),
    docker_json_file(UNRECOGNISED), docker_json_file(TS + REFUSED),
    # lines the scanner does not recognise: dropped only where normalize() cannot repair them
    TS + UNRECOGNISED, CRI + UNRECOGNISED, TS + HEAD + "client timed out (110: Connection timed out) while "
    "reading upstream, client: 1.2.3.4", TS + HEAD + "upstream hiccup (110: x) while connecting to upstream",
    TS + UNRECOGNISED + " ...", TS + UNRECOGNISED + " [...]", TS + UNRECOGNISED + " (truncated)",
    TS + UNRECOGNISED + " >", TS + UNRECOGNISED.replace("*9 ", "_9 "),
    TS + UNRECOGNISED.replace("*9 ", "* 9 "),
    TS + UNRECOGNISED.replace("*9 ", "\\*9 "), TS + UNRECOGNISED.replace("*9 ", "**9 "),
    TS + UNRECOGNISED + " **b**",
    TS + HEAD + "connect () failed (111: Connection refused) while connecting to upstream",
    TS + HEAD + "connect() to unix:  /run/x.sock failed (13: Permission denied)",
    TS + HEAD + "connect() failed ( 111 : Connection refused) while connecting to upstream",
    TS + HEAD + "connect() failed (111: Connection refused  ) while connecting to upstream",
    TS + HEAD + "connect() failed (111: Connection refused ) while connecting to upstream",
    TS + HEAD + "worker_connections are not enough", TS + HEAD + "(111: x) while connecting to upstream",
    # not recognised as written, but normalize() cuts them at the errno and the phase names the call
    # (a catalog needle elsewhere in the line lets them past the prefilter)
    TS + HEAD + "upstream hiccup (110: x) while connecting to upstream, client: 1.2.3.4, "
    "server: no live upstreams",
    CRI + HEAD + 'hmm (111: Connection refused) while connecting to upstream, request: "GET /recv() failed"',
    docker_json_file(HEAD + "hmm (104: reset) while reading upstream, server: no live upstreams"),
    # Markdown's *9
    *(TS + REFUSED.replace("*9 ", mangled) for mangled in ("_9 ", "* 9 ", "\\*9 ", "**9 ")),
    TS + HEAD + "[client 9] ModSecurity: Access denied (Value: `5' ) (phase 2)",
    docker_json_file(UNRECOGNISED.replace("*9 ", "_9 ")), docker_json_file(UNRECOGNISED + "..."),
    "'" + TS + UNRECOGNISED + "'", "  (111: Connection refused) while connecting to upstream",
]
