"""Which ``server`` and ``location`` nginx chose for a logged request, exactly as nginx does.

The by-location breakdown of ``why502 stats`` names the location that served each 5xx.  This
module reproduces nginx's choice as one vectorised polars expression, checked against a real
nginx in ``tests/test_location_match.py`` (every request there is answered by the location's own
label, and the expression must give the same label).

Three steps, each a port of the nginx source (nginx/nginx, ``src/http``):

1. **The URI** (:func:`nginx_uri`): the request target without the query string, normalised the
   way ``ngx_http_parse_complex_uri()`` (``ngx_http_parse.c``) does before any location is
   searched: ``%XX`` decoded (every byte, not only unreserved ones; a decoded ``/`` or ``.``
   takes part in the steps below, a decoded ``?`` or ``#`` does not end the path), ``//`` merged
   when ``merge_slashes`` is on, ``/./`` dropped, ``/../`` resolved, a raw ``#`` ends the path.
   A target that nginx rejects with 400 (a bad ``%`` escape, ``%00``, ``..`` above the root) gets
   a null URI, hence no location.
2. **The server** (:func:`server_expr`): per listen port, ``ngx_http_find_virtual_server()``
   (``ngx_http_request.c``) -> ``ngx_hash_find_combined()`` (``src/core/ngx_hash.c``): the exact
   name, else the longest ``*.example.com`` / ``.example.com`` wildcard
   (``ngx_hash_find_wc_head()``), else the longest ``www.example.*`` wildcard
   (``ngx_hash_find_wc_tail()``), else the first ``~regex`` name in config order (caseless when
   the regex holds an upper-case letter, ``ngx_http_core_server_name()``), else the port's
   default server (``listen ... default_server``, else the first server listening there).
3. **The location** (:func:`location_expr`): ``ngx_http_core_find_location()`` and
   ``ngx_http_core_find_static_location()`` (``ngx_http_core_module.c``), recursively:

   - among the static (``=``, prefix, ``^~``) locations of a level: a ``=`` location equal to
     the URI wins at once; else a location whose name is the URI plus ``/`` and that passes to
     a backend (``proxy_pass`` & co. set ``auto_redirect``) wins at once (nginx answers 301);
     else the longest matching prefix is remembered and its *nested* locations are searched the
     same way (a final result there ends the search);
   - then, unless that prefix is ``^~``, this level's regex locations in config order (so the
     nested regexes of the matched prefix come before the outer ones); a match wins, after
     its own nested locations are searched;
   - else the deepest prefix remembered.

   Two consequences worth knowing, both checked against nginx: a ``^~`` prefix nested in a
   plain prefix stops only the regexes of its own level, not the server's; and the regexes
   nested in a ``^~`` location are still tried.

Use::

    rules = rules_from_config(cfg)                      # once per config
    uri = nginx_uri(target_from_request(pl.col("request")),
                    merge_slashes=merge_slashes_from_config(cfg))
    df.with_columns(location_expr(rules, uri, pl.col("host")).alias("location"))
    notes = match_notes(rules)                          # what is approximate for this config

(``port_col=pl.col("server_port")`` when the log has ``$server_port``).

Speed: each prefix level and each regex is one column computed once per batch, the
``when/then`` chains only combine integer rule ids, server names are resolved once per unique
host, and with many string tests each server's tests run only on its own unique (server, URI)
pairs (:func:`location_id_expr`).  ``bench/location_bench.py``: 1M rows in about 0.2 s with the
bench config, 0.35 s with 50 virtual hosts x 10 locations.

What is approximate (said again in :func:`match_notes` when a config needs it):

- Listen sockets are told apart by port only (``listen 127.0.0.1:80`` and ``listen 80`` are one
  group); without a port column the port whose servers have the most locations is assumed
  (see :func:`server_expr`).  A server with no ``listen`` is on port 80 (nginx: 8000 when not root).
- Regexes run on polars' Rust engine after a translation to PCRE's meaning (``\\d \\w \\s`` are
  ASCII, ``$`` and ``\\Z`` also match before a final newline).  A regex Rust cannot run
  (look-around, back-references, possessive quantifiers, atomic groups) is run with Python's
  ``re`` (``re.ASCII``) over the *unique* URIs of each batch only (:func:`_python_contains`).  A
  regex neither can compile never matches and is named in :func:`match_notes`.
- nginx matches bytes (PCRE without UTF).  Matching here runs on :func:`byte_text` (one
  character per byte), so ``.``, ``[^/]`` and ``\\W`` count bytes as nginx does (checked with
  percent-encoded UTF-8 and stray bytes against nginx).  Left over: a negated class under
  ``~*`` that lists non-ASCII characters is case-folded by Rust's Unicode rules; a URI that
  really contains U+F780..U+F7FF reads as the stray bytes :func:`normalize_uri_py` encodes
  there; a log whose escapes (``\\xC3``) were not undone matches as that text.  Host names are
  matched as text (nginx: bytes), which differs only for non-ASCII names.
- ``merge_slashes`` is one flag for all servers (nginx takes it from the port's default
  server, since the URI is parsed before the ``Host`` header picks a server).
- ``$hostname`` as a server name, ``server_name_in_redirect`` and case-insensitive file systems
  are not modelled.  ``host_col`` must be ``$host`` (or ``$http_host``): for an absolute
  request target nginx takes the host from the request line, which only ``$host`` shows.
- Labels are ``"<first server_name or _> <location>"`` as before, so two servers with the same
  first name (one per port, say) share labels (:func:`match_notes` says so).
"""

from __future__ import annotations

import codecs
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import polars as pl

from why502.parsers.nginx_config import Location, NginxConfig, Server

NO_LOCATION = "(no location matched)"

#: Directives that set ``clcf->auto_redirect`` when the location name ends with ``/``
#: (``ngx_http_proxy_pass()`` in ``ngx_http_proxy_module.c`` and the fastcgi, uwsgi, scgi,
#: memcached and grpc twins).
AUTO_REDIRECT_DIRECTIVES = frozenset(
    {"proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass", "grpc_pass"}
)

_KINDS = {"=": "exact", "^~": "prefix_stop", "~": "regex", "~*": "regex_ci"}


@dataclass(frozen=True)
class MatchRule:
    """One ``server`` (``kind == "server"``) or one ``location`` of it, with its nesting.

    ``rules_from_config()`` emits each server's rule first, then its locations in config order
    (depth first), so a rule's ``parent`` always comes before it.  Named (``@``) locations and
    ``if`` blocks are left out: nginx never picks them by URI.
    """

    id: int
    kind: str  # server | exact | prefix | prefix_stop (^~) | regex (~) | regex_ci (~*)
    pattern: str  # the location's name ("" for a server)
    label: str  # what the breakdown shows: f"{server name or '_'} {loc.label}"
    server: int  # id of the server's rule
    parent: int | None  # id of the enclosing location; None: directly in the server
    server_names: tuple[str, ...]  # the server's server_name values, as written
    ports: tuple[str, ...]  # the server's listen ports ("80", "unix:/run/x.sock")
    default_ports: tuple[str, ...]  # the ports where it is ``default_server``
    auto_redirect: bool = False  # passes to a backend and the name ends with "/"
    file: str = ""
    line: int = 0

    @property
    def is_static(self) -> bool:
        return self.kind in ("exact", "prefix", "prefix_stop")

    @property
    def is_regex(self) -> bool:
        return self.kind in ("regex", "regex_ci")


# ---------------------------------------------------------------------------------------------
# building the rules


def _kind_and_name(loc: Location) -> tuple[str, str] | None:
    """``location = /a``, ``location =/a`` (one argument) and so on -> (kind, name); nginx
    reads the one-argument forms too (``ngx_http_core_location()``)."""
    if loc.modifier in ("if", "@") or loc.is_named:
        return None
    if loc.modifier:
        kind = _KINDS.get(loc.modifier)
        return (kind, loc.path) if kind else None
    p = loc.path
    for mod in ("~*", "^~", "=", "~"):  # longest modifier first
        if p.startswith(mod) and len(p) > len(mod):
            return _KINDS[mod], p[len(mod):]
    return "prefix", p


def _listen_key(address: str, port: int | None) -> str:
    return address if port is None else str(port)


def rules_from_config(cfg: NginxConfig) -> list[MatchRule]:
    """Every http ``server`` and its name-matchable locations, nesting kept (see the module
    docstring for how nginx searches them)."""
    out: list[MatchRule] = []
    for server in cfg.servers:
        if server.context != "http":
            continue
        out.extend(_server_rules(server, len(out)))
    return out


def _server_rules(server: Server, first_id: int) -> list[MatchRule]:
    ports: list[str] = []
    defaults: list[str] = []
    for ln in server.listens:
        key = _listen_key(ln.address, ln.port)
        if key not in ports:
            ports.append(key)
        if ("default_server" in ln.params or "default" in ln.params) and key not in defaults:
            defaults.append(key)
    if not server.listens:
        ports.append("80")  # ngx_http_core_merge_srv_conf(): *:80 (8000 when not root)
    names = server.server_names or ("",)  # no server_name: the empty name (nginx >= 0.8.48)
    sname = server.name or "_"
    sid = first_id

    def rule(rid: int, kind: str, pattern: str, label: str, parent: int | None, file: str, line: int,
             auto_redirect: bool = False) -> MatchRule:
        return MatchRule(rid, kind, pattern, label, sid, parent, tuple(names), tuple(ports),
                         tuple(defaults), auto_redirect, file, line)

    out = [rule(sid, "server", "", sname, None, server.file, server.line)]

    def add(loc: Location, parent: int | None) -> None:
        kn = _kind_and_name(loc)
        if kn is None:
            return
        kind, name = kn
        passes = any(d.name in AUTO_REDIRECT_DIRECTIVES for d in loc.directives)
        rid = first_id + len(out)
        out.append(rule(rid, kind, name, f"{sname} {loc.label}", parent, loc.file, loc.line,
                        passes and name.endswith("/")))
        for child in loc.locations:
            add(child, rid)

    for top in server.locations:
        add(top, None)
    return out


def merge_slashes_from_config(cfg: NginxConfig) -> bool:
    """The ``merge_slashes`` that applies to the URI: the default server's of the port
    :func:`server_expr` assumes.  nginx parses the request line before the ``Host`` header
    chooses a server, so it uses the port's default server (``ngx_http_process_request_uri()``
    in ``ngx_http_request.c`` reads ``cscf->merge_slashes`` of the server found so far)."""
    rules = rules_from_config(cfg)
    if not rules:
        return True
    default = _preferred(_port_groups(rules)).default
    for server in cfg.servers:
        if server.context == "http" and (server.file, server.line) == (default.file, default.line):
            return (server.effective("merge_slashes").value or "on") != "off"
    return True


# ---------------------------------------------------------------------------------------------
# the URI as nginx matches it


# A URI is bytes to nginx.  nginx_uri() hands out readable text (UTF-8); a byte that is not
# part of valid UTF-8 becomes U+F780 + (byte - 0x80), a private-use code point, so no byte is
# lost.  For matching, byte_text() turns a URI or a location name into one character per
# byte (Latin-1), so a regex's ".", "[^/]" or "\\W" consumes one byte, as PCRE does in nginx
# (compiled without PCRE2_UTF, ngx_regex_compile() in src/core/ngx_regex.c).
_PUA_BASE = 0xF700
_PUA_ERRORS = "why502-uri-bytes"


def _pua_handler(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    bad = err.object[err.start:err.end]
    return "".join(chr(_PUA_BASE + b) for b in bad), err.end


codecs.register_error(_PUA_ERRORS, _pua_handler)


def byte_text(text: str) -> str:
    """``"/café"`` -> ``"/cafÃ©"``: one character per byte of the URI nginx sees (undoing the
    private-use escapes of :func:`normalize_uri_py`).  ASCII is unchanged."""
    if text.isascii():
        return text
    out = bytearray()
    for ch in text:
        o = ord(ch)
        if _PUA_BASE + 0x80 <= o <= _PUA_BASE + 0xFF:
            out.append(o - _PUA_BASE)
        else:
            out += ch.encode("utf-8")
    return out.decode("latin-1")


def _byte_text_series(s: pl.Series) -> pl.Series:
    """:func:`byte_text` on the non-ASCII values of ``s`` only, once per unique value."""
    mask = (s.str.len_bytes() != s.str.len_chars()).fill_null(False)
    if not mask.any():
        return s
    odd = s.filter(mask)
    uniq = odd.unique()
    conv = pl.Series([byte_text(v) for v in uniq.to_list()], dtype=pl.String)
    return s.scatter(mask.arg_true(), odd.replace_strict(uniq, conv, return_dtype=pl.String))


def _hex(c: int) -> int | None:
    if 48 <= c <= 57:
        return c - 48
    c |= 0x20
    if 97 <= c <= 102:
        return c - 87
    return None


# escapes the state machine must see: a decoded "/" or "." (segments), %00, a bad escape
_SLOW_ESCAPES = re.compile(r"%(?:2[EeFf]|00|(?![0-9A-Fa-f]{2}))")


def normalize_uri_py(target: str | None, merge_slashes: bool = True) -> str | None:
    """One request target -> the URI nginx searches locations with, or None where nginx answers
    400.  A port of ``ngx_http_parse_complex_uri()`` (``src/http/ngx_http_parse.c``, the
    non-Windows branches): the states usual / slash / dot / dot_dot, ``%XX`` decoded and the
    decoded byte fed to the state it interrupted (except ``%``, ``#`` and ``?``, which stay
    literal), ``?`` ends the path, ``#`` ends it.  An absolute target (``http://host/p``) is cut
    to its path first (``ngx_http_parse_request_line()`` keeps the host apart)."""
    if target is None:
        return None
    if not target.startswith("/"):
        m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", target)
        if m is None:
            return None
        target = target[m.end():] or "/"
        if not target.startswith("/"):
            target = "/" + target  # "http://h?x" -> nginx's empty_path_in_uri
    path = target.split("?", 1)[0].split("#", 1)[0]
    if "//" not in path and "/." not in path and not _SLOW_ESCAPES.search(path):
        # the common case (escapes of ordinary bytes only): the state machine would only decode
        return unquote_to_bytes(path).decode("utf-8", _PUA_ERRORS)
    p = target.encode("utf-8", "surrogateescape")
    u = bytearray()
    usual, slash, dot, dot_dot = 0, 1, 2, 3
    state = usual
    i, n = 0, len(p)

    def up_one() -> bool:
        # "u -= 4; back to the previous '/', keep it": "/a/b/.." -> "/a/"; "/.." is invalid
        del u[len(u) - 3:]
        while u and u[-1] != 0x2F:
            u.pop()
        return bool(u)

    while i < n:
        ch = p[i]
        i += 1
        quoted = False
        if ch == 0x25:  # '%'
            if i + 2 > n:
                return None
            hi, lo = _hex(p[i]), _hex(p[i + 1])
            if hi is None or lo is None:
                return None
            i += 2
            ch = hi * 16 + lo
            if ch == 0:
                return None
            if ch in (0x25, 0x23, 0x3F):  # decoded '%', '#', '?': a plain byte
                u.append(ch)
                state = usual
                continue
            quoted = True
        if not quoted and ch == 0x3F:  # '?': the arguments start
            break
        if not quoted and ch == 0x23:  # '#'
            break
        if state == usual:
            if ch == 0x2F:
                state = slash
            u.append(ch)
        elif state == slash:
            if ch == 0x2F:
                if not merge_slashes:
                    u.append(ch)
            elif ch == 0x2E:
                state = dot
                u.append(ch)
            else:
                state = usual
                u.append(ch)
        elif state == dot:
            if ch == 0x2F:
                state = slash
                u.pop()
            elif ch == 0x2E:
                state = dot_dot
                u.append(ch)
            else:
                state = usual
                u.append(ch)
        else:  # dot_dot
            if ch == 0x2F:
                if not up_one():
                    return None
                state = slash
            else:
                state = usual
                u.append(ch)
    if state == dot:
        u.pop()
    elif state == dot_dot and not up_one():
        return None
    return u.decode("utf-8", _PUA_ERRORS)


# a target needing more than "cut at '?'": escapes, "//", "/.", "#" or an absolute URI
_COMPLEX_MARKS = ["%", "//", "/.", "#"]


def nginx_uri(target: pl.Expr, *, merge_slashes: bool = True) -> pl.Expr:
    """The request target (``/a//b/../c?x=1``) -> the URI nginx matches locations against
    (``/a/c``), null where nginx answers 400 (see :func:`normalize_uri_py`).  Readable text:
    decoded UTF-8 stays UTF-8; a decoded byte that is not valid UTF-8 becomes U+F780 + (byte -
    0x80) so that :func:`location_expr` still sees the byte.

    Vectorised: every target is cut at its first ``?``; a path left with a ``%``, ``//``,
    ``/.`` or ``#`` in it, or not starting with ``/`` (usually few), goes through
    :func:`normalize_uri_py` once per *unique* value of the batch."""

    def complex_batch(s: pl.Series) -> pl.Series:
        # cut at the first raw "?" first: escapes in the query string (common) cost nothing
        out = s.str.splitn("?", 2).struct.field("field_0")
        mask = (out.str.contains_any(_COMPLEX_MARKS) | ~out.str.starts_with("/")).fill_null(False)
        if not mask.any():
            return out
        hard = out.filter(mask)
        uniq = hard.unique()
        done = pl.Series([normalize_uri_py(v, merge_slashes) for v in uniq.to_list()], dtype=pl.String)
        fixed = hard.replace_strict(uniq, done, default=None, return_dtype=pl.String)
        return out.scatter(mask.arg_true(), fixed)

    return target.map_batches(complex_batch, return_dtype=pl.String, is_elementwise=True)


def target_from_request(request: pl.Expr) -> pl.Expr:
    """``$request`` (``GET /a?b HTTP/1.1``) -> its target (``/a?b``); null when it has none."""
    return request.str.split_exact(" ", 2).struct.field("field_1")


def host_key(host: pl.Expr) -> pl.Expr:
    """``$host`` or ``$http_host`` -> the name nginx looks servers up by
    (``ngx_http_validate_host()``): lower case, without ``:port`` and a trailing dot."""
    return host.str.to_lowercase().str.replace(r":[0-9]*$", "").str.strip_suffix(".").fill_null("")


# ---------------------------------------------------------------------------------------------
# PCRE regexes on the Rust and Python engines


_ASCII_CLASSES = {
    "d": "0-9",
    "w": "0-9A-Za-z_",
    "s": "\\t\\n\\x0B\\x0C\\r ",
}
_PCRE_ONLY_ESCAPES = set("123456789gkKQEGhHvVRXCNpP")


def _open_class(pattern: str, i: int, out: list[str]) -> int:
    """Copy the ``[`` at ``i`` that opens a character class, with a leading ``^`` and a leading
    ``]`` (a literal there in PCRE, written ``\\]`` for the other engines); return the index
    after them.  Shared by both translators."""
    out.append("[")
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        out.append("\\]")
        i += 1
    return i


def pcre_to_rust(pattern: str) -> str | None:
    """A PCRE pattern (nginx compiles without UTF, so classes are ASCII) -> the same regex for
    Rust's ``regex`` crate, or None when it needs PCRE-only syntax (look-around,
    back-references, atomic groups, possessive quantifiers, ``\\K``, ``\\Q``, comments,
    recursion) that Rust does not have.  ``\\d \\w \\s`` become ASCII classes, ``$`` and ``\\Z``
    ``(?:\\n?\\z)`` (PCRE's end, before a final newline too), ``\\b`` ASCII."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            e = pattern[i + 1]
            i += 2
            if e in _PCRE_ONLY_ESCAPES:
                return None
            low = e.lower()
            if low in _ASCII_CLASSES:
                if in_class:
                    if e != low:
                        return None  # [\D] and friends: leave it to Python
                    out.append(_ASCII_CLASSES[low])
                else:
                    out.append(("[" if e == low else "[^") + _ASCII_CLASSES[low] + "]")
            elif not in_class and e == "Z":
                out.append("(?:\\n?\\z)")
            elif not in_class and e in "bB":
                out.append(f"(?-u:\\{e})")
            else:
                out.append("\\" + e)
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end < 0:
                    return None
                out.append(pattern[i:end + 2])
                i = end + 2
                continue
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            i = _open_class(pattern, i, out)
            continue
        if c == "(" and pattern.startswith("(?", i):
            rest = pattern[i + 2:]
            if rest.startswith(("<", "P<")) and not rest.startswith(("<=", "<!")):
                out.append(c)
                i += 1
                continue
            if re.match(r"[imsxU-]*[:)]", rest) and "m" not in rest.split(")")[0].split(":")[0]:
                out.append(c)
                i += 1
                continue
            return None  # (?= (?! (?<= (?<! (?> (?| (?# (?R (?( (?P= (?P> (?m ...
        if c in "*+?}" and i + 1 < n and pattern[i + 1] == "+":
            return None  # possessive
        if c == "$":
            out.append("(?:\\n?\\z)")
            i += 1
            continue
        if not c.isascii():  # a byte (byte_text): PCRE's default tables fold ASCII letters only
            out.append(f"(?-i:{c})")
            i += 1
            continue
        out.append(c)
        i += 1
    if in_class:
        return None
    return "".join(out)


_POSIX = {
    "alpha": "A-Za-z", "digit": "0-9", "alnum": "0-9A-Za-z", "upper": "A-Z", "lower": "a-z",
    "space": "\\t\\n\\x0B\\x0C\\r ", "blank": "\\t ", "xdigit": "0-9A-Fa-f", "word": "0-9A-Za-z_",
    "punct": "!-/:-@\\[-`{-~", "cntrl": "\\x00-\\x1F\\x7F", "print": " -~", "graph": "!-~",
    "ascii": "\\x00-\\x7F",
}


def pcre_to_python(pattern: str) -> str | None:
    """The same for Python's ``re`` (used with ``re.ASCII``): ``(?<name>`` -> ``(?P<name>``,
    ``\\z`` -> ``\\Z``, PCRE's ``\\Z`` -> ``(?=\\n?\\Z)``, POSIX classes (``[[:digit:]]``) ->
    ASCII ranges; None for a negated POSIX class.  The rest is common syntax."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            if not in_class and e == "z":
                out.append("\\Z")
            elif not in_class and e == "Z":
                out.append("(?=\\n?\\Z)")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                posix = _POSIX.get(pattern[i + 2:end]) if end > 0 else None
                if posix is None:
                    return None
                out.append(posix)
                i = end + 2
                continue
        elif c == "[":
            in_class = True
            i = _open_class(pattern, i, out)
            continue
        elif pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _rust_ok(pattern: str) -> bool:
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception:  # polars raises ComputeError for a pattern Rust's regex rejects
        return False
    return True


@dataclass(frozen=True)
class _Regex:
    """A location or server-name regex, compiled for the engine that can run it."""

    source: str
    caseless: bool
    rust: str | None
    python: re.Pattern[str] | None

    @property
    def supported(self) -> bool:
        return self.rust is not None or self.python is not None

    def search(self, text: str) -> bool:
        """One string (the Python reference): Python's ``re`` when it compiles, else Rust."""
        if self.python is not None:
            return self.python.search(text) is not None
        if self.rust is not None:
            return bool(pl.Series([text]).str.contains(self.rust).item())
        return False

    def contains(self, col: pl.Expr) -> pl.Expr:
        if self.rust is not None:
            return col.str.contains(self.rust).fill_null(False)
        if self.python is not None:
            return col.map_batches(_python_contains(self.python), return_dtype=pl.Boolean,
                                   is_elementwise=True).fill_null(False)
        return pl.lit(False)


def _python_contains(rx: re.Pattern[str]) -> Callable[[pl.Series], pl.Series]:
    """The documented fallback for PCRE-only regexes: Python's ``re`` once per *unique* value
    of the batch (a log repeats its URIs), then a vectorised ``is_in`` back to every row."""

    def run(s: pl.Series) -> pl.Series:
        uniq = s.drop_nulls().unique().to_list()
        hits = [v for v in uniq if rx.search(v) is not None]
        return s.is_in(pl.Series(hits, dtype=pl.String).implode())

    return run


_REGEX_CACHE: dict[tuple[str, bool], _Regex] = {}


def compile_regex(pattern: str, caseless: bool) -> _Regex:
    """A PCRE pattern (already :func:`byte_text` for locations) for both engines: Rust when
    :func:`pcre_to_rust` translates it and polars compiles it, Python's ``re`` as the
    fallback and as the one-request reference.  Cached: configs repeat their regexes."""
    key = (pattern, caseless)
    got = _REGEX_CACHE.get(key)
    if got is not None:
        return got
    rust = pcre_to_rust(pattern)
    if rust is not None and caseless:
        rust = "(?i)" + rust
    if rust is not None and not _rust_ok(rust):
        rust = None
    py: re.Pattern[str] | None = None
    translated = pcre_to_python(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "possible nested set": a PCRE construct re reads otherwise
            py = re.compile(translated, re.ASCII | (re.IGNORECASE if caseless else 0)) if translated else None
    except (re.error, FutureWarning):
        py = None
    got = _Regex(pattern, caseless, rust, py)
    _REGEX_CACHE[key] = got
    return got


def _regex_of(rule: MatchRule) -> _Regex:
    return compile_regex(byte_text(rule.pattern), rule.kind == "regex_ci")


def _server_name_regex(name: str) -> _Regex:
    pattern = name[1:]
    return compile_regex(pattern, any("A" <= ch <= "Z" for ch in pattern))


# ---------------------------------------------------------------------------------------------
# servers


@dataclass
class _PortGroup:
    key: str
    servers: list[MatchRule]  # config order
    default: MatchRule
    locations: int = 0  # how many locations its servers have


def _port_groups(rules: list[MatchRule]) -> list[_PortGroup]:
    """Servers per listen port, nginx's default first: ``ngx_http_add_server()`` keeps config
    order, the ``default_server`` one (else the first) answers unknown names."""
    servers = [r for r in rules if r.kind == "server"]
    per_server: dict[int, int] = {}
    for r in rules:
        if r.kind != "server":
            per_server[r.server] = per_server.get(r.server, 0) + 1
    keys: list[str] = []
    for s in servers:
        keys.extend(k for k in s.ports if k not in keys)
    groups = []
    for k in keys:
        members = [s for s in servers if k in s.ports]
        default = next((s for s in members if k in s.default_ports), members[0])
        groups.append(_PortGroup(k, members, default, sum(per_server.get(s.id, 0) for s in members)))
    return groups


def _preferred(groups: list[_PortGroup]) -> _PortGroup:
    """Without the port in the log: the port whose servers have the most locations (the 443
    of a site whose port 80 only redirects), then the most servers, then the first listed."""
    return max(groups, key=lambda g: (g.locations, len(g.servers)))


@dataclass
class _Names:
    exact: dict[str, int]
    heads: list[tuple[str, bool, int]]  # (".example.com", also bare "example.com", server id)
    tails: list[tuple[str, int]]  # ("www.example.", server id), longest first
    regexes: list[tuple[_Regex, int]]  # config order


def _names(group: list[MatchRule]) -> _Names:
    """Sort a port's server names the way ``ngx_http_server_names()`` adds them, in config
    order, to its hashes with ``ngx_hash_add_key()`` (``src/core/ngx_hash.c``); a name that
    conflicts is ignored ("conflicting server name"):

    - ``example.com`` conflicts with an earlier ``example.com`` or ``.example.com``;
    - ``.example.com`` conflicts with an earlier ``example.com``; otherwise it reserves
      ``example.com`` at once, *then* conflicts with an earlier ``*.example.com`` or
      ``.example.com`` (so after ``*.example.com`` it is dropped but still blocks a later
      exact ``example.com``: checked against nginx);
    - ``*.example.com`` conflicts with an earlier ``*.example.com`` or ``.example.com``;
    - ``www.example.*`` with an earlier ``www.example.*``.
    """
    names = _Names({}, [], [], [])
    reserved: set[str] = set()  # ha->keys_hash: exact names and the bare form of .example.com
    heads: dict[str, tuple[bool, int]] = {}  # ha->dns_wc_head_hash: "example.com" -> (bare, id)
    tails: dict[str, int] = {}  # ha->dns_wc_tail_hash: "www.example" -> id
    for s in group:
        for raw in s.server_names:
            if raw.startswith("~"):
                names.regexes.append((_server_name_regex(raw), s.id))
                continue
            n = raw.lower()
            if len(n) > 1 and n.startswith("."):
                if n[1:] in reserved:
                    continue
                reserved.add(n[1:])
                heads.setdefault(n[1:], (True, s.id))
            elif len(n) > 2 and n.startswith("*."):
                heads.setdefault(n[2:], (False, s.id))
            elif len(n) > 2 and n.endswith(".*"):
                tails.setdefault(n[:-2], s.id)
            elif "*" not in n and n not in reserved:
                reserved.add(n)
                names.exact[n] = s.id
    names.heads = sorted(((f".{k}", bare, sid) for k, (bare, sid) in heads.items()), key=lambda h: -len(h[0]))
    names.tails = sorted(((f"{k}.", sid) for k, sid in tails.items()), key=lambda t: -len(t[0]))
    return names


def _find_server_py(names: _Names, default: int, host: str) -> int:
    if host in names.exact:
        return names.exact[host]
    for suffix, bare, sid in names.heads:
        if (host.endswith(suffix) and len(host) > len(suffix)) or (bare and host == suffix[1:]):
            return sid
    for prefix, sid in names.tails:
        if host.startswith(prefix) and len(host) > len(prefix):
            return sid
    if host:
        for rx, sid in names.regexes:
            if rx.search(host):
                return sid
    return default


def _group_expr(g: _PortGroup, host: pl.Expr) -> pl.Expr:
    names = _names(g.servers)
    conds: list[tuple[pl.Expr, int]] = []
    for suffix, bare, sid in names.heads:
        c = host.str.ends_with(suffix) & (host.str.len_bytes() > len(suffix))
        conds.append((c | (host == suffix[1:]) if bare else c, sid))
    for prefix, sid in names.tails:
        conds.append((host.str.starts_with(prefix) & (host.str.len_bytes() > len(prefix)), sid))
    for rx, sid in names.regexes:
        conds.append((rx.contains(host) & (host != ""), sid))
    rest = _chain(conds, pl.lit(g.default.id, dtype=pl.Int32), pl.Int32)
    if not names.exact:
        return rest
    exact = host.replace_strict(list(names.exact), list(names.exact.values()), default=None,
                                return_dtype=pl.Int32)
    return pl.coalesce(exact, rest)


def _chain(conds: list[tuple[pl.Expr, int]] | list[tuple[pl.Expr, pl.Expr]], otherwise: pl.Expr,
           dtype: pl.DataType | type[pl.DataType]) -> pl.Expr:
    if not conds:
        return otherwise
    first, *more = conds

    def val(v: int | pl.Expr) -> pl.Expr:
        return v if isinstance(v, pl.Expr) else pl.lit(v, dtype=dtype)

    ch: Any = pl.when(first[0]).then(val(first[1]))
    for c, v in more:
        ch = ch.when(c).then(val(v))
    out: pl.Expr = ch.otherwise(otherwise)
    return out


def _server_rows_expr(rules: list[MatchRule], host_col: pl.Expr, port_col: pl.Expr | None) -> pl.Expr:
    host = host_key(host_col)
    groups = _port_groups(rules)
    pref = _preferred(groups)
    out = _group_expr(pref, host)
    if port_col is None or len(groups) == 1:
        return out
    port = port_col.cast(pl.String)
    conds = [(port == g.key, _group_expr(g, host)) for g in groups if g is not pref]
    return _chain(conds, out, pl.Int32)


def server_expr(rules: list[MatchRule], host_col: pl.Expr, port_col: pl.Expr | None = None) -> pl.Expr:
    """The id of the ``server`` rule that took each request (Int32).

    ``host_col`` is ``$host`` (``$http_host`` works too: :func:`host_key` is applied).  With
    ``port_col`` (``$server_port``) each port has its own names and default server, as in
    nginx; without it every request is taken to have reached the port whose servers have the
    most locations (:func:`_preferred`), which is exact whenever all servers share one port.

    A log has few distinct hosts, so the name tests run once per unique (host, port) of the
    batch and a hash join carries the answer back to every row."""
    servers = [r for r in rules if r.kind == "server"]
    if not servers:
        return pl.lit(None, dtype=pl.Int32)
    if len(servers) == 1:
        return pl.lit(servers[0].id, dtype=pl.Int32)
    keys = {"h": host_col.cast(pl.String)}
    if port_col is not None:
        keys["p"] = port_col.cast(pl.String)
    pure = _server_rows_expr(rules, pl.col("h"), pl.col("p") if port_col is not None else None)

    def batch(s: pl.Series) -> pl.Series:
        frame = s.struct.unnest()
        uniq = frame.unique().with_columns(pure.alias("_sid"))
        return frame.join(uniq, on=list(keys), how="left", nulls_equal=True,
                          maintain_order="left")["_sid"]

    packed = pl.struct(*[e.alias(k) for k, e in keys.items()])
    return packed.map_batches(batch, return_dtype=pl.Int32, is_elementwise=True)


# ---------------------------------------------------------------------------------------------
# locations


def _children(rules: list[MatchRule]) -> dict[int, list[MatchRule]]:
    kids: dict[int, list[MatchRule]] = {}
    for r in rules:
        if r.kind == "server":
            continue
        key = r.parent if r.parent is not None else r.server
        kids.setdefault(key, []).append(r)
    return kids


Entry = tuple[pl.Expr, int]  # (condition, rule id)


class _Columns:
    """The string tests of one server's locations, each computed once as a column of the
    batch (``_lp<node>``: the longest prefix of a level, ``_rx<id>``: a regex), so the
    decision lists below only combine integers and booleans."""

    def __init__(self, uri: pl.Expr) -> None:
        self.uri = uri
        self.defs: dict[str, pl.Expr] = {}

    def longest(self, node: int, ordered: list[MatchRule]) -> pl.Expr:
        name = f"_lp{node}"
        self.defs[name] = _chain([(self.uri.str.starts_with(byte_text(r.pattern)), r.id) for r in ordered],
                                 pl.lit(None, dtype=pl.Int32), pl.Int32)
        return pl.col(name)

    def regex(self, rule: MatchRule) -> pl.Expr:
        name = f"_rx{rule.id}"
        self.defs[name] = _regex_of(rule).contains(self.uri)
        return pl.col(name)


def _level(kids: dict[int, list[MatchRule]], node: int, cols: _Columns) -> tuple[list[Entry], list[Entry]]:
    """Decision lists for one level of ``ngx_http_core_find_location()``: (final, fallback).

    ``final`` entries end the search (``NGX_OK``/``NGX_DONE``: an exact match, an auto
    redirect, a regex, or a final result of a nested level); ``fallback`` entries are the
    prefix remembered (``NGX_AGAIN``), deepest first, used when nothing final matched.  Each
    list is in nginx's order; the first true condition wins."""
    uri = cols.uri
    locs = kids.get(node, [])
    static = [r for r in locs if r.is_static]
    regexes = [r for r in locs if r.is_regex]
    final: list[Entry] = []
    fallback: list[Entry] = []
    # 1. "=" equal to the URI (node->exact is tested before node->inclusive)
    seen_exact: set[str] = set()
    for r in static:
        if r.kind == "exact" and r.pattern not in seen_exact:
            seen_exact.add(r.pattern)
            final.append((uri == byte_text(r.pattern), r.id))
    # 2. auto redirect: the URI is the name without its last "/" and no location has that name
    names = {r.pattern for r in static}
    for r in static:
        if r.auto_redirect and r.pattern[:-1] not in names:
            final.append((uri == byte_text(r.pattern[:-1]), r.id))
    # 3. the longest prefix (the first location wins a duplicated name: nginx refuses those)
    prefixes: dict[str, MatchRule] = {}
    for r in static:
        if r.kind != "exact":
            prefixes.setdefault(r.pattern, r)
    ordered = sorted(prefixes.values(), key=lambda r: -len(r.pattern))
    longest = cols.longest(node, ordered) if ordered else pl.lit(None, dtype=pl.Int32)
    nested = {r.id: _level(kids, r.id, cols) for r in ordered}
    for r in ordered:
        hit = longest == r.id
        final.extend((hit & c, v) for c, v in nested[r.id][0])
    # 4. this level's regexes, unless the prefix found here is "^~"
    stop_ids = [r.id for r in ordered if r.kind == "prefix_stop"]
    allowed = longest.is_null() | ~longest.is_in(stop_ids) if stop_ids else pl.lit(True)
    for r in regexes:
        hit = allowed & cols.regex(r)
        sub_final, sub_fallback = _level(kids, r.id, cols)
        final.extend((hit & c, v) for c, v in sub_final + sub_fallback)
        final.append((hit, r.id))
    # 5. the prefix remembered (deeper ones first)
    for r in ordered:
        hit = longest == r.id
        fallback.extend((hit & c, v) for c, v in nested[r.id][1])
        fallback.append((hit, r.id))
    return final, fallback


def _server_plans(rules: list[MatchRule]) -> dict[int, tuple[dict[str, pl.Expr], pl.Expr]]:
    """Per server id: the columns to compute on its rows and the chain that picks the id."""
    kids = _children(rules)
    plans: dict[int, tuple[dict[str, pl.Expr], pl.Expr]] = {}
    for s in (r for r in rules if r.kind == "server"):
        cols = _Columns(pl.col("uri"))
        final, fallback = _level(kids, s.id, cols)
        if final or fallback:
            plans[s.id] = (cols.defs, _chain(final + fallback, pl.lit(None, dtype=pl.Int32), pl.Int32))
    return plans


#: Up to this many string tests (prefix levels + regexes, all servers) run on every row of a
#: batch; above it they run once per unique (server, URI) pair of their own server
#: (bench/location_bench.py: 1M rows, 3 tests: 0.03 s direct vs 0.15 s with the unique pairs
#: and the join back; 29 tests: 0.41 s vs 0.37 s).
DIRECT_TESTS = 12


def location_id_expr(
    rules: list[MatchRule],
    path_col: pl.Expr,
    host_col: pl.Expr,
    *,
    port_col: pl.Expr | None = None,
) -> pl.Expr:
    """The ``id`` of the location rule that served each request (Int32), null when nginx found
    none; :func:`location_expr` turns it into the label.

    Per batch: the server of each row (:func:`server_expr`, once per unique host), then each
    string test once as a column (:class:`_Columns`) and a ``when/then`` chain of integer ids
    that picks the location (:func:`_level`).  With more than :data:`DIRECT_TESTS` tests,
    they run on the *unique* (server, URI) pairs only, each server's tests on its own pairs,
    and a hash join brings the id back to every row.  All of it
    polars; Python only runs once per batch to lay out the plan (and per unique URI for a
    PCRE-only regex)."""
    servers = [r for r in rules if r.kind == "server"]
    if not servers:
        return pl.lit(None, dtype=pl.Int32)
    plans = _server_plans(rules)
    sid = server_expr(rules, pl.col("h"), pl.col("p") if port_col is not None else None)
    fields = {"uri": path_col.cast(pl.String), "h": host_col.cast(pl.String)}
    if port_col is not None:
        fields["p"] = port_col.cast(pl.String)

    all_defs = {k: v for defs, _ in plans.values() for k, v in defs.items()}
    none = pl.lit(None, dtype=pl.Int32)
    pick_any = pl.when(pl.col("uri").is_null()).then(none).otherwise(
        _chain([(pl.col("sid") == k, pick) for k, (_, pick) in plans.items()], none, pl.Int32))

    def batch(s: pl.Series) -> pl.Series:
        frame = s.struct.unnest().select(sid.alias("sid"), "uri")
        frame = frame.with_columns(_byte_text_series(frame["uri"]).alias("uri"))
        if len(all_defs) <= DIRECT_TESTS:
            # few string tests: running them on every row beats finding the unique pairs
            return frame.with_columns(**all_defs).select(pick_any.alias("_loc"))["_loc"]
        pairs = frame.filter(pl.col("uri").is_not_null()).unique()
        parts = []
        for key, part in pairs.partition_by("sid", as_dict=True).items():
            plan = plans.get(int(key[0])) if key[0] is not None else None
            if plan is None:
                continue
            defs, pick = plan
            parts.append(part.with_columns(**defs).select("sid", "uri", pick.alias("_loc")))
        if not parts:
            return pl.Series([None] * frame.height, dtype=pl.Int32)
        ids = pl.concat(parts)
        return frame.join(ids, on=["sid", "uri"], how="left", maintain_order="left")["_loc"]

    packed = pl.struct(*[e.alias(k) for k, e in fields.items()])
    return packed.map_batches(batch, return_dtype=pl.Int32, is_elementwise=True)


def location_expr(
    rules: list[MatchRule],
    path_col: pl.Expr,
    host_col: pl.Expr,
    *,
    port_col: pl.Expr | None = None,
) -> pl.Expr:
    """The label of the location that served each request (``"www.example.com ~ \\.php$"``),
    :data:`NO_LOCATION` when nginx found none (or rejected the URI).

    ``path_col`` is the URI as nginx matches it (:func:`nginx_uri` of the request target);
    ``host_col`` is ``$host``; ``port_col`` (optional) ``$server_port``.  One polars expression
    of string tests, no Python per row (Python runs once per *unique* host, and once per
    unique URI for PCRE-only regexes, :func:`_python_contains`)."""
    locs = [r for r in rules if r.kind != "server"]
    if not locs:
        return pl.lit(NO_LOCATION)
    ids = location_id_expr(rules, path_col, host_col, port_col=port_col)
    return ids.replace_strict([r.id for r in locs], [r.label for r in locs], default=NO_LOCATION,
                              return_dtype=pl.String)


# ---------------------------------------------------------------------------------------------
# the same, one request at a time (the reference the expression is tested against)


def match_location_py(rules: list[MatchRule], uri: str | None, host: str, port: str | None = None) -> str:
    """:func:`location_expr` for one request, written as a direct port of
    ``ngx_http_core_find_location()`` (return codes and all).  Slow; for tests and for
    explaining one request."""
    servers = [r for r in rules if r.kind == "server"]
    if not servers or uri is None:
        return NO_LOCATION
    text = byte_text(uri)
    h = host.lower()
    h = re.sub(r":[0-9]*$", "", h).removesuffix(".")
    groups = _port_groups(rules)
    g = next((g for g in groups if g.key == port), None) if port is not None else None
    g = g or _preferred(groups)
    sid = _find_server_py(_names(g.servers), g.default.id, h)
    kids = _children(rules)
    by_id = {r.id: r for r in rules}
    ok, again, done, declined = "OK", "AGAIN", "DONE", "DECLINED"
    state: dict[str, int | None] = {"loc": None}

    def static(node: int) -> tuple[str, MatchRule | None]:
        locs = [r for r in kids.get(node, []) if r.is_static]
        for r in locs:
            if r.kind == "exact" and byte_text(r.pattern) == text:
                return ok, r
        names = {byte_text(r.pattern) for r in locs}
        for r in locs:
            if r.auto_redirect and byte_text(r.pattern[:-1]) == text and text not in names:
                return done, r
        best: MatchRule | None = None
        for r in locs:
            longer = best is None or len(r.pattern) > len(best.pattern)
            if r.kind != "exact" and text.startswith(byte_text(r.pattern)) and longer:
                best = r
        return (again, best) if best else (declined, None)

    def find(node: int) -> str:
        rc, hit = static(node)
        noregex = False
        if hit is not None:
            state["loc"] = hit.id
        if rc == again:
            assert hit is not None
            noregex = hit.kind == "prefix_stop"
            rc = find(hit.id)
        if rc in (ok, done):
            return rc
        if not noregex:
            for r in kids.get(node, []):
                if r.is_regex and _regex_of(r).search(text):
                    state["loc"] = r.id
                    find(r.id)
                    return ok
        return rc

    find(sid)
    loc = state["loc"]
    return by_id[loc].label if loc is not None else NO_LOCATION


def match_notes(rules: Iterable[MatchRule]) -> list[str]:
    """What the expression cannot do exactly for this config, one line each."""
    notes: list[str] = []
    rs = list(rules)
    for r in rs:
        rx: _Regex | None = None
        what = ""
        if r.is_regex:
            rx, what = _regex_of(r), f"location {r.label!r}"
        elif r.kind == "server":
            for n in r.server_names:
                if n.startswith("~"):
                    rx2 = _server_name_regex(n)
                    if not rx2.supported:
                        notes.append(f"server_name {n!r} ({r.file}:{r.line}): neither Rust's nor "
                                     "Python's regex engine compiles it; it never matches here")
            continue
        if rx is None:
            continue
        if not rx.supported:
            notes.append(f"{what} ({r.file}:{r.line}): neither Rust's nor Python's regex engine "
                         "compiles it; it never matches here")
        elif rx.rust is None:
            notes.append(f"{what} ({r.file}:{r.line}): PCRE-only syntax, matched with Python's re "
                         "over the unique URIs")
    servers = [r for r in rs if r.kind == "server"]
    by_label: dict[str, list[MatchRule]] = {}
    for r in servers:
        by_label.setdefault(r.label, []).append(r)
    for label, same in by_label.items():
        if len(same) > 1:
            where = ", ".join(f"{r.file}:{r.line}" for r in same)
            notes.append(f"{len(same)} servers are labelled {label!r} ({where}): their locations "
                         "share labels in the breakdown")
    groups = _port_groups(rs) if servers else []
    if len(groups) > 1:
        notes.append("servers listen on several ports: without $server_port in the log, requests "
                     f"are matched against the servers of port {_preferred(groups).key}")
    return notes


# ---------------------------------------------------------------------------------------------
# what ``why502 stats`` holds on to


@dataclass(frozen=True)
class LocationModel:
    """A config's servers and locations plus its ``merge_slashes``: everything needed to name
    the location of a logged request (``why502 stats`` by-location breakdown and per-location
    timings)."""

    rules: list[MatchRule]
    merge_slashes: bool = True

    @classmethod
    def from_config(cls, cfg: NginxConfig) -> LocationModel:
        return cls(rules_from_config(cfg), merge_slashes_from_config(cfg))

    def __bool__(self) -> bool:
        return any(r.kind != "server" for r in self.rules)

    def label_expr(self, request: pl.Expr, host: pl.Expr, *, target: str = "request") -> pl.Expr:
        """The location label of each row.  ``target`` says what ``request`` holds: the request
        line (``$request``), the raw target (``$request_uri``) or the already normalised URI
        (``$uri``, matched as is)."""
        if target == "uri":
            uri = request
        else:
            raw = target_from_request(request) if target == "request" else request
            uri = nginx_uri(raw, merge_slashes=self.merge_slashes)
        return location_expr(self.rules, uri, host)

    def notes(self) -> list[str]:
        return match_notes(self.rules)
