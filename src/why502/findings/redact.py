"""Credentials out of every report: one pass over a result before any reporter sees it.

Reports are pasted into tickets and chats, and what they quote -- config lines around a fix,
error-log lines with the request and its referrer, access-log lines -- carries credentials:
``proxy_set_header Authorization "Basic …"``, ``fastcgi_param DB_PASSWORD …``,
``?access_token=…``.  :func:`redact` walks a ``Report`` or a ``LintReport`` (every string of
every field, whatever the output format) and replaces each credential *value* with
:data:`MARK`, keeping the name, so the reader still sees *which* header or parameter was set;
the count goes into the result's ``redacted`` field and every reporter says it.  ``--no-redact``
on the command line skips the pass.  What is recognised (docs/security.md):

* **by name** -- a header, parameter, variable or query key whose name says it holds a secret
  (``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``X-Api-Key``, ``*PASSWORD*``,
  ``*SECRET*``, ``*TOKEN*``, ``*SESSION*``, ``key``, ``sig``, …; not when its last word says it
  is a setting about the secret: ``SESSION_TIMEOUT``, ``token_type``, ``auth_basic_user_file``),
  set by ``proxy_set_header``/``fastcgi_param``/``SetEnv``/``RequestHeader``/
  ``http-request set-header``/… or written ``name=value``/``name: value``.  A value that is only
  variables (``$http_authorization``, ``%{HTTP:Authorization}e``) is not a secret and is kept;
* **by shape** -- a query parameter whose value looks like a token whatever its name (a JWT, or
  20+ URL-safe characters mixing letters and digits in both cases, or 32+ hex digits), the
  password of ``scheme://user:password@host``, credentials after ``Basic``/``Bearer``, and the
  well-known key formats (JWT, AWS ``AKIA…``, GitHub ``ghp_…``, Slack ``xox…``, Stripe
  ``sk_live_…``, GitLab ``glpat-…``, Google ``AIza…``) anywhere.

A fix's diff stays applicable: only values change (never a line or a hunk count), and ``why502
fix`` matches a redacted context line against the real file by redacting the file's line the
same way (:func:`same_line`), then writes the file's own bytes; the report's SHA-256 of each
file (``fix.hashes``) still pins the exact file.  Everything here is per line: no pattern
crosses a newline, so redacting a diff line by line or whole gives the same text.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, TypeVar

__all__ = ["MARK", "notice", "redact", "redact_data", "redact_diff", "redact_text", "same_line"]

MARK = "[redacted]"
"""What replaces a credential value (the name before it is kept)."""

T = TypeVar("T")

# -- names ---------------------------------------------------------------------------------------

# a word of a name that holds a secret wherever it appears inside the word
_STRONG = re.compile(r"passw(?:or)?d|passphrase|secret|token|apikey|cookie|session|sessid|credential"
                     r"|signature|authorization|privatekey|accesskey")
# words that hold a secret only as a whole word of the name (``key`` but not ``keepalive``)
_WEAK = frozenset({"pass", "pwd", "pw", "auth", "key", "sid", "sig", "jwt", "otp", "csrf", "xsrf",
                   "bearer", "ticket", "apikey", "authkey", "authtoken"})
# a last word that makes the name a setting *about* the secret, not the secret
_ABOUT = frozenset({"timeout", "ttl", "lifetime", "expire", "expires", "expiry", "age", "path", "file",
                    "dir", "domain", "name", "size", "length", "len", "count", "limit", "cache", "type",
                    "mode", "level", "enable", "enabled", "secure", "httponly", "samesite", "header",
                    "version", "format", "method", "url", "uri", "endpoint", "host", "port", "user",
                    "username", "login", "realm", "hint", "zone", "id_hint", "store", "handler",
                    "engine", "strict", "prefix", "suffix", "valid", "required", "present"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


# directives that pass a request on (``proxy_pass: …`` in prose is not a password)
_PASS_DIRECTIVE = re.compile(r"(?i)(?:proxy|fastcgi|uwsgi|scgi|grpc|memcached)_pass")
# a name that says "secret" by itself, even before a plain word (``password: letmein``)
_BLATANT = re.compile(r"(?i)passw(?:or)?d|passwd|secret|token|api[-_]?key|authorization|cookie|credential")


def secret_name(name: str) -> bool:
    """Whether a header/parameter/variable/key name says its value is a credential."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words or words[-1] in _ABOUT or _PASS_DIRECTIVE.fullmatch(name):
        return False
    joined = "".join(words)
    return any(w in _WEAK for w in words) or bool(_STRONG.search(joined))


# -- values --------------------------------------------------------------------------------------

_SCHEME = re.compile(r"(?i)(basic|bearer|digest|token|negotiate|ntlm|aws4-hmac-sha256)([^\S\n]+)")
# only variables: nginx $x ${x}, Apache %{X}e %{HTTP:X}, HAProxy %[req.hdr(x)]
_ONLY_VARIABLES = re.compile(r"(?:\$\{?\w+\}?|%\{[^}\n]*\}\w?|%\[[^\]\n]*\]|[\w.-]+=|[\s\"':;,])*")
# values that say a setting is on or off: nothing to hide (``session.auto_start=off``)
_SWITCH = frozenset({"on", "off", "true", "false", "yes", "no", "none", "null", "-"})


def _secret_part(value: str) -> tuple[int, int] | None:
    """The span of ``value`` to replace (quotes and an auth scheme kept), or None to keep it."""
    start, end = 0, len(value)
    if end - start >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        start, end = 1, end - 1
    elif value[:1] in "\"'":
        start = 1
    scheme = _SCHEME.match(value, start)
    if scheme and scheme.end() < end:
        start = scheme.end()
    inner = value[start:end]
    if (not any(c.isalnum() for c in inner) or MARK in inner or inner.strip().lower() in _SWITCH
            or _ONLY_VARIABLES.fullmatch(inner)):
        return None
    return start, end


def _replace(value: str) -> tuple[str, int]:
    span = _secret_part(value)
    if span is None:
        return value, 0
    return value[:span[0]] + MARK + value[span[1]:], 1


# -- rules ---------------------------------------------------------------------------------------

# A: a directive that sets a header, parameter or variable: NAME then VALUE (nginx, Apache, HAProxy)
_DIRECTIVE = re.compile(
    r"""(?ix)
    (?<![\w-])(?:proxy_set_header|grpc_set_header|add_header|add_trailer|fastcgi_param|uwsgi_param
       |scgi_param|set|env|more_set_headers|more_set_input_headers|SetEnv|PassEnv
       |(?:Request)?Header[^\S\n]+(?:always[^\S\n]+|onsuccess[^\S\n]+)?(?:set|append|add|merge|setifempty)
       |http-(?:request|response|after-response)[^\S\n]+(?:set|add)-header)
    [^\S\n]+
    (?P<name>"[^"\n]*"|'[^'\n]*'|[^\s;"']+)
    [^\S\n]+
    (?P<value>"(?:[^"\\\n]|\\.)*"?|'[^'\n]*'?
       |(?:basic|bearer|digest|token|negotiate|ntlm)[^\S\n]+[^\s;"']+|[^\s;"']+)
    """)
# A2: directives whose argument is the secret: nginx's secure_link_secret, HAProxy's
# ``stats auth USER:PASSWORD`` and a userlist's ``insecure-password``
_SECRET_ARG = re.compile(
    r"(?i)(?<![\w-])(?:secure_link_secret|insecure-password|stats[^\S\n]+auth[^\S\n]+[^\s:;]+:)"
    r"(?:[^\S\n]+|(?<=:))(?P<value>\"[^\"\n]*\"?|'[^'\n]*'?|[^\s;]+)")
# B: NAME=VALUE or NAME: VALUE (query strings, cookies, headers quoted in a log, JSON, env files);
# not a word glued to a ``)``: ``(short)auth:(na)`` is Kong's DNS-lookup trace, not a credential
_PAIR = re.compile(
    r"""(?x)
    (?<![\w.\-\[\]$=:/)])(?<!\$\{)(?<!%\{)
    (?P<q>["']?)(?P<name>[A-Za-z_][\w.\-]*(?:\[[^\]\n]{1,64}\])?)(?P=q)
    [^\S\n]*[=:][^\S\n]*""")
_PAIR_VALUE = re.compile(
    r"""(?x)"(?:[^"\\\n]|\\.)*"?|'[^'\n]*'?
       |(?i:basic|bearer|digest|token|negotiate|ntlm)[^\S\n]+[^\s;&,"'#)]+
       |[^\s;&,"'#)]+""")
# a header whose whole value is the secret (``Cookie: a=1; b=2`` is one value, not two pairs),
# written ``Name: value`` (an app log, a curl trace): up to a quote or the end of the line
_HEADER_LINE = re.compile(
    r"""(?ix)(?<![\w-])(?:set-)?cookie"?[^\S\n]*:[^\S\n]*(?P<value>"[^"\n]*"?|[^"\n]*[^\s"])
    |(?<![\w-])(?:proxy-)?authorization"?[^\S\n]*:[^\S\n]*(?P<auth>"[^"\n]*"?|[^"\n]*[^\s"])""")
# C: a query parameter whose value has a token's shape, whatever its name
_QUERY = re.compile(r"(?<=[?&;])(?P<name>[^=&\s\"'#;]{1,64})=(?P<value>[^&\s\"'#;]+)")
_TOKEN_SHAPE = re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*|[A-Za-z0-9_-]{20,}(?:={0,2}|(?:%3[dD]){0,2})")
# D: the password of scheme://user:password@host
_USERINFO = re.compile(r"(?i)(?<=://)(?P<user>[^\s/:@\"']*):(?P<value>[^\s/@\"']+)(?=@)")
# E: well-known key formats, anywhere
_KNOWN = re.compile(
    r"\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]*|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}"
    r"|\bgithub_pat_\w{22,}|\bxox[abposr]-[A-Za-z0-9-]{10,}|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|\bglpat-[\w-]{20,}|\bAIza[\w-]{35}")
# F: credentials after an auth scheme (an access log that logs $http_authorization)
_AFTER_SCHEME = re.compile(r"(?i)\b(?:basic|bearer)[^\S\n]+(?P<value>[A-Za-z0-9+/._~-]{8,}=*)")
# cheap pre-check (plain substring tests on the lower-cased text, ~50x faster than a regex): a
# string with none of these words, no URL with an ``@`` and no query string is returned untouched
_HINTS = ("pass", "pw", "secret", "token", "key", "auth", "cookie", "sess", "sid", "sig",
          "cred", "basic", "bearer", "jwt", "otp", "srf", "ticket", "eyj", "akia", "asia", "ghp_",
          "gho_", "ghu_", "ghs_", "ghr_", "github_pat", "xox", "k_live", "k_test", "glpat", "aiza")
# words that contain a hint and say nothing secret, taken out before the test (every nginx diff
# has a ``proxy_pass`` or a ``keepalive`` in its context)
_BENIGN = ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass",
           "keepalive", "passive", "bypass", "monkey", "hockey", "sidecar", "inside", "outside",
           "side", "signal", "assign", "design", "consider")


_HINT = re.compile("|".join(re.escape(h) for h in _HINTS))
_USERINFO_HINT = re.compile(r"://[^\s/@]+@")


def _may_hold_secret(text: str) -> bool:
    low = text.lower()
    for word in _BENIGN:
        if word in low:
            low = low.replace(word, " ")
    if _HINT.search(low):
        return True
    if "@" in low and _USERINFO_HINT.search(low):
        return True
    return "=" in low and ("?" in low or "&" in low or ";" in low)


def _token_shaped(value: str) -> bool:
    if not _TOKEN_SHAPE.fullmatch(value):
        return False
    if value.startswith("eyJ") and value.count(".") == 2:
        return True
    return (any(c.isdigit() for c in value) and any(c.islower() for c in value)
            and any(c.isupper() for c in value))


def _prose(m: re.Match[str], value: str) -> bool:
    """``Signature: rare, …``, ``key = the first field``: a spaced separator, nothing quoted, a
    short plain word after it and a name that is not blatantly a secret's -- prose, not a
    setting (the catalog's explanations are full of it)."""
    spaced = any(c.isspace() for c in m.group(0)[m.end("name") - m.start():])
    return (spaced and not m.group("q") and value[:1] not in "\"'" and value.isalpha()
            and len(value) < 12 and not _BLATANT.search(m.group("name")))


def _pairs(text: str) -> tuple[str, int]:
    """Rule B by hand: a pair whose name is not a secret's is stepped over by its name only, so
    the pairs *inside* its value are still seen (``request: "GET /?access_token=…"``)."""
    out: list[str] = []
    pos = count = 0
    while (m := _PAIR.search(text, pos)) is not None:
        value = _PAIR_VALUE.match(text, m.end())
        if value is None or not secret_name(m.group("name")) or _prose(m, value.group(0)):
            out.append(text[pos:m.end()])
            pos = m.end()
            continue
        new, n = _replace(value.group(0))
        count += n
        out.append(text[pos:m.end()] + new)
        pos = value.end()
    out.append(text[pos:])
    return "".join(out), count


def redact_text(text: str) -> tuple[str, int]:
    """``text`` with every credential value recognised replaced by :data:`MARK`, and how many."""
    if not text or not _may_hold_secret(text):
        return text, 0
    if len(text) <= _CACHED_CHARS:  # config lines repeat (5000 servers from one template)
        return _redact_line(text)
    return _redact(text)


_CACHED_CHARS = 256


@functools.lru_cache(maxsize=1 << 14)
def _redact_line(text: str) -> tuple[str, int]:
    return _redact(text)


def _redact(text: str) -> tuple[str, int]:
    count = 0

    def directive(m: re.Match[str]) -> str:
        nonlocal count
        if not secret_name(m.group("name").strip("\"'")):
            return m.group(0)
        new, n = _replace(m.group("value"))
        count += n
        return m.group(0)[:m.start("value") - m.start()] + new

    def header(m: re.Match[str]) -> str:
        nonlocal count
        group = "value" if m.group("value") is not None else "auth"
        new, n = _replace(m.group(group))
        count += n
        return m.group(0)[:m.start(group) - m.start()] + new

    def argument(m: re.Match[str]) -> str:
        nonlocal count
        new, n = _replace(m.group("value"))
        count += n
        return m.group(0)[:m.start("value") - m.start()] + new

    text = _DIRECTIVE.sub(directive, text)
    text = _HEADER_LINE.sub(header, text)
    text = _SECRET_ARG.sub(argument, text)
    text, n = _pairs(text)
    count += n

    def query(m: re.Match[str]) -> str:
        nonlocal count
        value = m.group("value")
        if MARK in value or not _token_shaped(value):
            return m.group(0)
        count += 1
        return f"{m.group('name')}={MARK}"

    def userinfo(m: re.Match[str]) -> str:
        nonlocal count
        if m.group("value") == MARK or _ONLY_VARIABLES.fullmatch(m.group("value")):
            return m.group(0)
        count += 1
        return f"{m.group('user')}:{MARK}"

    def known(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return MARK

    def after_scheme(m: re.Match[str]) -> str:
        nonlocal count
        value = m.group("value")
        if not (any(c.isdigit() for c in value) or value.endswith("=")
                or (any(c.islower() for c in value) and any(c.isupper() for c in value))):
            return m.group(0)
        count += 1
        return m.group(0)[:m.start("value") - m.start()] + MARK

    text = _QUERY.sub(query, text)
    text = _USERINFO.sub(userinfo, text)
    text = _KNOWN.sub(known, text)
    text = _AFTER_SCHEME.sub(after_scheme, text)
    return text, count


def notice(count: int) -> str:
    """What every format says when ``count`` values were redacted."""
    values = "value was" if count == 1 else "values were"
    return (f"{count} credential {values} redacted ({MARK}: authorization and API-key headers, "
            "passwords, secrets, tokens, session IDs); --no-redact shows them")


def redact_diff(diff: str) -> tuple[str, int]:
    """A unified diff with each line's *body* redacted (its ``' '``/``-``/``+`` tag kept apart, so
    ``-env[DB_PASSWORD] = x`` is seen as the config line it is); lines and hunk counts unchanged."""
    if not _may_hold_secret(diff):
        return diff, 0
    lines = diff.split("\n")
    count = 0
    for i, line in enumerate(lines):
        if line[:1] in (" ", "-", "+") and not line.startswith(("--- ", "+++ ")):
            body, n = redact_text(line[1:])
            new = line[:1] + body
        else:
            new, n = redact_text(line)
        if n:
            lines[i] = new
            count += n
    return "\n".join(lines), count


def same_line(real: str, shown: str) -> bool:
    """Whether a diff's line ``shown`` (maybe redacted) is the file's line ``real``: equal, or
    equal once ``real`` is redacted the same way.  ``why502 fix`` uses it to apply a redacted
    report's diff, and then writes ``real``, never ``shown``."""
    return real == shown or (MARK in shown and redact_text(real)[0] == shown)


_SKIP_FIELDS = frozenset({"hashes", "redacted", "schema_version"})


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _SKIP_FIELDS)
    return names


def _walk(value: Any, field_name: str = "") -> tuple[Any, int]:
    """``value`` with its strings redacted, and the count; objects without a change are returned
    as they are (a lint run of 10,000 findings has nothing to redact and allocates nothing)."""
    kind = type(value)
    if kind is str:
        return redact_diff(value) if field_name == "diff" else redact_text(value)
    if value is None or kind in (int, float, bool):
        return value, 0
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes: dict[str, Any] = {}
        total = 0
        for name in _field_names(kind):
            new, n = _walk(getattr(value, name), name)
            if n:
                changes[name] = new
                total += n
        return (dataclasses.replace(value, **changes) if changes else value), total
    if kind in (list, tuple):
        items = [_walk(v, field_name) for v in value]
        total = sum(n for _, n in items)
        if not total:
            return value, 0
        return (tuple(v for v, _ in items) if kind is tuple else [v for v, _ in items]), total
    if kind is dict:
        pairs = {k: _walk(v, field_name) for k, v in value.items()}
        total = sum(n for _, n in pairs.values())
        return ({k: v for k, (v, _) in pairs.items()} if total else value), total
    return value, 0


def redact_data(data: T) -> tuple[T, int]:
    """Plain data (``stats``' dict of tables) redacted like a report, and the count."""
    new, count = _walk(data)
    return new, count  # type: ignore[no-any-return]


def redact(result: T) -> T:
    """``result`` (a ``Report`` or a ``LintReport``) with every string of every field redacted
    and its ``redacted`` count raised by the values replaced.  Run once, where a result becomes
    output (the CLI's formats, ``render``, ``watch``'s reports and alerts); running it again on
    its own output finds nothing more (:data:`MARK` is never a value to redact)."""
    new: Any
    new, count = _walk(result)
    if count and hasattr(new, "redacted"):
        new = dataclasses.replace(new, redacted=int(new.redacted or 0) + count)
    return new  # type: ignore[no-any-return]
