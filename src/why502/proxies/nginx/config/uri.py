"""The URI nginx searches locations with, from a logged request target (pure; polars for the
vectorised form).

A port of ``ngx_http_parse_complex_uri()`` (``src/http/ngx_http_parse.c``): the request target
without the query string, ``%XX`` decoded (every byte, not only unreserved ones; a decoded
``/`` or ``.`` takes part in the steps below, a decoded ``?`` or ``#`` does not end the path),
``//`` merged when ``merge_slashes`` is on, ``/./`` dropped, ``/../`` resolved, a raw ``#``
ends the path.  A target that nginx rejects with 400 (a bad ``%`` escape, ``%00``, ``..``
above the root) gets a null URI, hence no location.

nginx matches bytes: :func:`byte_text` gives the one-character-per-byte form the regexes of
:mod:`why502.proxies.nginx.config.pcre` run on.
"""

from __future__ import annotations

import codecs
import re
from urllib.parse import unquote_to_bytes

import polars as pl

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


def byte_text_series(s: pl.Series) -> pl.Series:
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

