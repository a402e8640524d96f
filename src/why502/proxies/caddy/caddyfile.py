"""A Caddyfile read as Caddy's own lexer reads it, for what ``caddy adapt``'s JSON does not say:
where each ``reverse_proxy`` and each of its subdirectives is (file:line), and a score telling a
Caddyfile from the other proxies' configs.

Tokens are separated by whitespace; ``"..."`` (with ``\\"`` escapes) and backquoted strings are
one token; a ``#`` that starts a token starts a comment to the end of the line; ``{`` at the end
of a line opens a block and a lone ``}`` closes it (caddyconfig/caddyfile/lexer.go ``next()``,
https://caddyserver.com/docs/caddyfile/concepts#tokens-and-quotes).  The scan is one pass over
the characters (linear), and an unclosed quote ends at the end of the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Directive:
    """One line of a Caddyfile: its tokens, its line, and the block it opens (if any)."""

    name: str
    args: tuple[str, ...]
    line: int
    children: list[Directive] = field(default_factory=list)
    end_line: int | None = None  # the line of the closing ``}`` of its block
    opens_block: bool = False

    def find(self, name: str) -> list[Directive]:
        return [c for c in self.children if c.name == name]


def tokens(text: str) -> list[tuple[str, int, bool]]:
    """``(token, line, quoted)`` for every token of ``text``."""
    out: list[tuple[str, int, bool]] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "\\" and i + 1 < n and text[i + 1] == "\n":  # line continuation
            line += 1
            i += 2
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in "\"`":
            start_line, buf, i = line, [], i + 1
            while i < n and text[i] != c:
                if c == '"' and text[i] == "\\" and i + 1 < n and text[i + 1] in "\"\\":
                    buf.append(text[i + 1])
                    i += 2
                    continue
                if text[i] == "\n":
                    line += 1
                buf.append(text[i])
                i += 1
            i += 1
            out.append(("".join(buf), start_line, True))
            continue
        start = i
        while i < n and text[i] not in " \t\r\n":
            i += 1
        out.append((text[start:i], line, False))
    return out


def parse(text: str) -> list[Directive]:
    """The Caddyfile's top-level entries (global options block ``{``, snippets, site blocks),
    each with its nested directives.  A Caddyfile of one site may have no braces: its first line
    is then the site's addresses and every later line a directive of it."""
    lines: dict[int, list[tuple[str, bool]]] = {}
    for tok, ln, quoted in tokens(text):
        lines.setdefault(ln, []).append((tok, quoted))
    root = Directive("", (), 0)
    stack = [root]
    for ln in sorted(lines):
        toks = lines[ln]
        words = [t for t, _ in toks]
        if words == ["}"] or (words and words[0] == "}" and not toks[0][1]):
            if len(stack) > 1:
                stack[-1].end_line = ln
                stack.pop()
            continue
        opens = bool(words) and words[-1] == "{" and not toks[-1][1]
        if opens:
            words = words[:-1]
        d = Directive(words[0] if words else "", tuple(words[1:]), ln, opens_block=opens)
        stack[-1].children.append(d)
        if opens:
            stack.append(d)
    top = root.children
    # one site without braces: ``localhost`` then its directives
    if top and not any(d.opens_block for d in top if d.name) and len(top) > 1:
        site = Directive(top[0].name, top[0].args, top[0].line, children=top[1:], opens_block=True)
        return [site]
    braceless = [d for d in top if not d.opens_block]
    if top and top[0].opens_block and not top[0].name and braceless:
        # a global options block, then one site without braces
        site = Directive(braceless[0].name, braceless[0].args, braceless[0].line,
                         children=braceless[1:], opens_block=True)
        return [d for d in top if d.opens_block] + [site]
    return top


def walk(nodes: list[Directive]) -> list[Directive]:
    out: list[Directive] = []
    for d in nodes:
        out.append(d)
        out.extend(walk(d.children))
    return out


def is_matcher(token: str) -> bool:
    """A matcher token as the first argument of a directive: ``*``, a path ``/...``, a named
    matcher ``@name`` (https://caddyserver.com/docs/caddyfile/matchers#syntax)."""
    return token == "*" or token.startswith(("/", "@"))  # noqa: S105 (a Caddyfile token)


_SCHEME_PORT = {"http": "80", "https": "443", "h2c": "80"}


def dial(address: str) -> str:
    """The ``dial`` address ``caddy adapt`` writes for an upstream of ``reverse_proxy``: the
    scheme dropped, port 80 (``http://``, none) or 443 (``https://``) when none is given, a unix
    socket as ``unix//path`` (reverseproxy/addresses.go ``parseUpstreamDialAddress``)."""
    if address.startswith("unix/"):
        return address
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "", address
    rest = rest.split("/", 1)[0]
    if rest.startswith("unix/"):
        return rest
    _host, colon, port = rest.rpartition(":")
    if rest.startswith("[") and not rest.endswith("]") and colon:
        return rest
    if colon and "]" not in port:
        return rest
    return f"{rest}:{_SCHEME_PORT.get(scheme, '80')}"


@dataclass
class ProxyDirective:
    """A ``reverse_proxy`` (or ``php_fastcgi``) of the Caddyfile, where it is and what it sets."""

    directive: Directive
    upstreams: tuple[tuple[str, int], ...]  # (dial, line)
    settings: dict[str, tuple[str, int]]  # subdirective -> (value, line); transport's too
    transport: Directive | None
    file: str

    @property
    def line(self) -> int:
        return self.directive.line

    @property
    def dials(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.upstreams)


PROXY_DIRECTIVES = ("reverse_proxy", "php_fastcgi")


def proxy_directives(text: str, file: str) -> list[ProxyDirective]:
    """Every ``reverse_proxy``/``php_fastcgi`` of the text in order, with its upstreams (the
    arguments after an optional matcher, and each ``to`` line) and the subdirectives it sets."""
    out: list[ProxyDirective] = []
    for d in walk(parse(text)):
        if d.name not in PROXY_DIRECTIVES:
            continue
        args = list(d.args)
        if args and is_matcher(args[0]):
            args = args[1:]
        ups = [(dial(a), d.line) for a in args]
        settings: dict[str, tuple[str, int]] = {}
        transport = None
        for c in d.children:
            if c.name == "to":
                ups += [(dial(a), c.line) for a in c.args]
            elif c.name == "transport":
                transport = c
                for t in c.children:
                    settings[t.name] = (" ".join(t.args), t.line)
            else:
                settings[c.name] = (" ".join(c.args), c.line)
        out.append(ProxyDirective(d, tuple(ups), settings, transport, file))
    return out
