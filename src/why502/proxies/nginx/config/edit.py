"""Edits of nginx config text that know nginx's syntax: set ``directive value;`` in a block,
replacing the statement where the level already sets it; several edits of one file as one diff.

The diff itself is :mod:`why502.findings.patch` (``a/``/``b/`` labels, ``patch -p1``, 3 lines
of context), shared by lint and diagnose.  Statements are found on the line crossplane reported
for them (``Directive.line``); a ``#`` comment and quoted strings are respected, the file's
indentation (tabs or spaces) and line endings (CRLF) are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

from why502.facts.edits import (
    AddResolver,
    CloseIdleBefore,
    KeepIdleConnections,
    Place,
    RaiseConnectionLimit,
    RaiseHeaderBuffer,
    RaiseOpenFiles,
    ReturnServers,
    ReuseConnections,
    Route,
    SendServerName,
    SpeakProtocol,
    TolerateFailures,
)
from why502.findings.patch import (
    Edit,
    edits_diff,
    insert_after,
    replace_line,
    split_lines,
    unified,
    unified_diff,
)
from why502.proxies.nginx.config.model import NginxConfig
from why502.proxies.nginx.config.tree import Directive
from why502.textutil import strip_comment


def _statement_re(directive: str) -> re.Pattern[str]:
    return re.compile(rf"(?P<indent>^|(?<=[;{{}}\s])){re.escape(directive)}\s[^;]*;")


def set_directive_text(text: str, *, directive: str, value: str, block_line: int,
                       existing_line: int | None = None, path: str = "config") -> str:
    """Return ``text`` with ``directive value;`` set in the block opened at ``block_line``.

    With ``existing_line`` the statement on that line is replaced in place (other statements on
    the line are kept); otherwise a new line is inserted right after the line holding the
    block's ``{``, indented like the block's first statement (or one level deeper than the
    block, with the file's tab/space style).  A block opened and closed on one line
    (``location / { proxy_pass http://x; }``) gets the statement inside its braces, on that line:
    a new line after it would be outside the block (and ``nginx -t`` may refuse it there).
    Raises ``ValueError`` when the line numbers do not fit the text.
    """
    lines = split_lines(text)
    start, stop, new = directive_edit(lines, directive=directive, value=value, block_line=block_line,
                                      existing_line=existing_line, path=path)
    return "".join([*lines[:start], *new, *lines[stop:]])


def directive_edit(lines: Sequence[str], *, directive: str, value: str, block_line: int,
                   existing_line: int | None = None, path: str = "config", anchor: str | None = None) -> Edit:
    """What :func:`set_directive_text` changes, as an edit of ``lines`` (``split_lines``, endings
    kept): it reads only the lines it edits and the block's next lines, so many fixes to one
    big file cost their own size (``findings.patch.edits_diff``)."""
    stmt = f"{directive} {value};"
    if existing_line is not None:
        if not 1 <= existing_line <= len(lines):
            raise ValueError(f"line {existing_line} is outside {path}")
        old = lines[existing_line - 1]
        replaced, n = _statement_re(directive).subn(lambda _m: stmt, old, count=1)
        if n == 0:
            raise ValueError(f"{path}:{existing_line} has no complete '{directive}' statement")
        return existing_line - 1, existing_line, [replaced]
    if not 1 <= block_line <= len(lines):
        raise ValueError(f"line {block_line} is outside {path}")
    idx = block_line - 1
    while idx < len(lines) and "{" not in strip_comment(lines[idx]):
        idx += 1
    if idx >= len(lines):
        raise ValueError(f"no '{{' at or after {path}:{block_line}")
    opener = lines[idx]
    inline = _inline_close(opener)
    if inline is not None:
        # the block closes on its own line: the statement goes before that '}' -- when the line
        # opens one block only; with several (``location /a { } location /b { }``) the line
        # number cannot tell which one is meant, and no fix beats a fix in the wrong block
        if strip_comment(opener).count("{") > 1:
            # ``anchor`` (the block's header, ``location /``) tells which, when it is there once
            at = _anchored_close(opener, anchor) if anchor else None
            if at is None:
                raise ValueError(f"{path}:{idx + 1} opens several blocks on one line")
            return idx, idx + 1, [opener[:at].rstrip(" \t") + f" {stmt} " + opener[at:]]
        return idx, idx + 1, [opener[:inline].rstrip(" \t") + f" {stmt} " + opener[inline:]]
    block_indent = re.match(r"[ \t]*", lines[block_line - 1])
    base = block_indent.group(0) if block_indent else ""
    indent = None
    for k in range(idx + 1, min(len(lines), idx + 200)):  # the block's first statement
        follow = lines[k]  # (indexed, not sliced: a slice of an edited view copies 200 lines)
        if follow.strip() and not follow.strip().startswith("}"):
            lead = re.match(r"[ \t]*", follow)
            cand = lead.group(0) if lead else ""
            if len(cand) > len(base):
                indent = cand
            break
    if indent is None:
        indent = base + ("\t" if "\t" in base else "    ")
    newline = "\r\n" if opener.endswith("\r\n") else "\n"
    if not opener.endswith("\n"):
        return idx, idx + 1, [opener + newline, f"{indent}{stmt}{newline}"]
    return idx + 1, idx + 1, [f"{indent}{stmt}{newline}"]


def _inline_close(line: str) -> int | None:
    """The index of the ``}`` that closes, on ``line``, the first block the line opens (the
    innermost one first: ``server { location / { x; } }`` -> the location's); ``None`` when the
    block goes on below.  Quotes and a ``#`` comment are respected."""
    code = strip_comment(line)
    if "}" not in code:
        return None
    opened = False
    for i, ch in _syntax(code):
        if ch == "{":
            opened = True
        elif ch == "}" and opened:
            return i
    return None


_SYNTAX = re.compile(r"\"[^\"]*\"?|'[^']*'?|[{}]")


def _syntax(code: str) -> Iterator[tuple[int, str]]:
    """The braces of ``code`` outside quotes, with their index (a regex scan, not a Python loop
    per character: lint asks this of every one-line block of a 5000-server config)."""
    for m in _SYNTAX.finditer(code):
        if m.group() in "{}":
            yield m.start(), m.group()


def make_directive_diff(text: str, path: str, *, directive: str, value: str, block_line: int,
                        existing_line: int | None = None) -> str:
    """A unified diff that sets ``directive value;`` in the block opened at ``block_line``.

    Pure: works on ``text`` (the real file's content); ``path`` labels the diff.  See
    :func:`set_directive_text` for where the line goes.  Raises ``ValueError`` on bad line numbers.
    """
    new = set_directive_text(text, directive=directive, value=value, block_line=block_line,
                             existing_line=existing_line, path=path)
    return unified_diff(text, new, path)


def set_directive(files: Mapping[str, Sequence[str]], name: str, value: str, *,
                  setting_file: str | None, setting_line: int | None, is_default: bool,
                  anchor_file: str | None, anchor_line: int | None, anchor: str | None = None) -> str | None:
    """Diff that makes ``name value;`` effective: replace the statement where it is set (other
    statements and comments on its line are kept), else add it after ``anchor`` (the
    ``proxy_pass`` line: the same block) with the anchor's indentation.  ``files`` holds the
    config files' lines (``Evidence.files``)."""
    if not is_default and setting_file and setting_line:
        lines = files.get(setting_file)
        if lines and 1 <= setting_line <= len(lines) and name in lines[setting_line - 1]:
            try:
                edit = directive_edit(lines, directive=name, value=value, block_line=setting_line,
                                      existing_line=setting_line, path=setting_file)
            except ValueError:
                pass
            else:
                return edits_diff(setting_file, lines, [edit])
    return insert_in_block(files, anchor_file, anchor_line, [f"{name} {value};"], anchor)


def insert_in_block(files: Mapping[str, Sequence[str]], path: str | None, line: int | None,
                    new_lines: Sequence[str], anchor: str | None = None) -> str | None:
    """Diff adding ``new_lines`` to the block of the statement at 1-based ``line`` (the
    ``proxy_pass`` of a location), or to the block that line opens (``upstream u {``): after
    that line, or — when the block closes on the same line (``location / { proxy_pass
    http://x; }``) — before its ``}`` on that line, since a line after it would be outside the
    block.

    A line that opens several blocks (a whole config on one line: ``events {} http { ... }``)
    cannot say by its number which block is meant: ``anchor`` (the statement's directive,
    ``proxy_pass``, or a block's header, ``upstream app``) finds it on the line when it is there
    once; otherwise no diff -- the first block of the line was ``events {}``, and a
    ``proxy_read_timeout`` there is a fix ``nginx -t`` refuses."""
    lines = files.get(path or "")
    if not lines or line is None or not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    if sum(1 for _i, ch in _syntax(strip_comment(text)) if ch == "{") > 1:
        at = _anchored_close(text, anchor) if anchor else None
        if at is None:
            return None
        stmts = " ".join(n.strip() for n in new_lines)
        return edits_diff(path or "", lines, [(line - 1, line, [text[:at].rstrip(" \t") + f" {stmts} "
                                                              + text[at:]])])
    close = _enclosing_close(text)
    if close is None:
        close = _inline_close(text)  # an opener line (``upstream u { server a; }``)
    if close is None:
        return insert_after(files, path, line, new_lines)
    stmts = " ".join(n.strip() for n in new_lines)
    return edits_diff(path or "", lines, [(line - 1, line, [text[:close].rstrip(" \t") + f" {stmts} "
                                                          + text[close:]])])


_STATEMENT_END = re.compile(r"\"[^\"]*\"?|'[^']*'?|[{};]")


def _anchored_close(line: str, anchor: str) -> int | None:
    """The index of the ``}`` on ``line`` that closes the block ``anchor`` is in (a statement:
    ``proxy_pass``) or opens (a header: ``upstream app``), when ``anchor`` starts exactly one
    statement of the line and that block closes on it; else None."""
    code = strip_comment(line)
    words = r"\s+".join(re.escape(w) for w in anchor.split())
    hits = [m.end() for m in re.finditer(rf"(?:^|(?<=[;{{}}\s])){words}(?=[\s{{;])", code)]
    if len(hits) != 1:
        return None
    # after the anchor's statement ends (';' inside the block, '{' opening it) we are inside the
    # block meant; its '}' is the first one met at level 0
    level = 0
    ended = False
    for m in _STATEMENT_END.finditer(code, hits[0]):
        ch = m.group()
        if ch not in ("{", "}", ";"):
            continue  # a quoted string
        if not ended:
            ended = ch in ";{"
            continue
        if ch == "{":
            level += 1
        elif ch == "}":
            if level == 0:
                return m.start()
            level -= 1
    return None


def _enclosing_close(line: str) -> int | None:
    """The index of the first ``}`` on ``line`` that closes a block opened before the line."""
    code = strip_comment(line)
    if "}" not in code:
        return None
    depth = 0
    for i, ch in _syntax(code):
        if ch == "{":
            depth += 1
        elif depth == 0:
            return i
        else:
            depth -= 1
    return None


class ConfigEdits:
    """Several directive edits to one file of ``cfg``, rendered as one unified diff.

    Edits after the first one in another file are dropped (one diff per finding); an edit whose
    line numbers do not fit the file is skipped.  Each edit is made against the file as read
    (an insertion goes right after its block's ``{`` line, later insertions at the same place
    above the earlier ones; a replacement of a line already edited edits the edited line), and
    the diff is written from the edits alone (``findings.patch.edits_diff``): a fix costs its own
    size, not the file's."""

    def __init__(self, cfg: NginxConfig) -> None:
        self.cfg = cfg
        self.path: str | None = None
        self.lines: list[str] | None = None
        self.replaced: dict[int, str] = {}  # 0-based line -> its new text
        self.inserted: dict[int, list[str]] = {}  # 0-based line -> lines inserted before it

    def set(self, file: str | None, block_line: int | None, directive: str, value: str,
            existing: Directive | None = None, anchor: str | None = None) -> None:
        """Set ``directive value;`` in the block opened at ``file:block_line``, replacing
        ``existing`` (the statement the level already has) when it is in that file."""
        if file is None or block_line is None:
            return
        if self.path is not None and file != self.path:
            return  # one diff per finding; keep the first file's edits
        if self.lines is None:
            self.lines = _file_lines(self.cfg, file)
            if self.lines is None:
                return
            self.path = file
        view = _EditedView(self.lines, self.replaced)
        try:
            if existing is not None and existing.file == file:
                start, _stop, new = directive_edit(view, directive=directive, value=value,
                                                   block_line=block_line, existing_line=existing.line,
                                                   path=file)
                self.replaced[start] = new[0]
            else:
                start, stop, new = directive_edit(view, directive=directive, value=value,
                                                  block_line=block_line, path=file, anchor=anchor)
                if stop > start:  # the opener line itself changes (inline block, no final newline)
                    self.replaced[start] = new[0]
                    if len(new) > 1:
                        self.inserted[stop] = [*new[1:], *self.inserted.get(stop, [])]
                else:
                    self.inserted[start] = [*new, *self.inserted.get(start, [])]
        except ValueError:
            return

    def diff(self) -> str | None:
        if self.path is None or self.lines is None:
            return None
        edits: list[Edit] = []
        for i in sorted(set(self.replaced) | set(self.inserted)):
            new = [*self.inserted.get(i, []), *([self.replaced[i]] if i in self.replaced else [])]
            edits.append((i, i + 1 if i in self.replaced else i, new))
        return edits_diff(self.path, self.lines, edits) or None


class _EditedView(Sequence[str]):
    """The file's lines with the replacements made so far, read lazily (no copy of the file)."""

    def __init__(self, lines: list[str], replaced: dict[int, str]) -> None:
        self.lines, self.replaced = lines, replaced

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self.lines)))]
        k = i if i >= 0 else len(self.lines) + i
        return self.replaced.get(k, self.lines[k])


def _file_lines(cfg: NginxConfig, path: str) -> list[str] | None:
    """The lines of ``path`` as ``split_lines`` gives them, split once per config and file."""
    cache: dict[str, list[str]] = cfg.__dict__.setdefault("_split_lines", {})
    if path not in cache:
        text = cfg.file_text(path)
        if text is None:
            return None
        cache[path] = split_lines(text)
    return cache[path]


# ---- intents (``facts.edits``) written in nginx's grammar: what ``Hooks.edits`` renders ----

def _pass(route: Route) -> str:
    """The statement that passes to the target (``proxy_pass``, ``fastcgi_pass``, ...): the
    anchor that finds the block on a config written on one line."""
    return f"{route.kind}_pass"


def _keep_idle(files: Mapping[str, Sequence[str]], i: KeepIdleConnections) -> str | None:
    """``keepalive N;`` in the ``upstream`` block: the idle connections each worker keeps to the
    group's servers (ngx_http_upstream_module, ``keepalive``)."""
    return insert_in_block(files, i.place.file, i.place.line, [f"keepalive {i.connections};"],
                           anchor=f"upstream {i.group}")


def _reuse(files: Mapping[str, Sequence[str]], i: ReuseConnections) -> str | None:
    """What ``keepalive`` needs in the location to work: ``proxy_http_version 1.1`` and an
    empty ``Connection`` header (nginx proxies with HTTP/1.0 and ``Connection: close`` by
    default), or ``fastcgi_keep_conn on`` (ngx_http_upstream_module ``keepalive``)."""
    new = (["fastcgi_keep_conn on;"] if i.keep_conn else []) + \
        (["proxy_http_version 1.1;"] if i.http11 else []) + \
        (['proxy_set_header Connection "";'] if i.clear_connection else [])
    return insert_in_block(files, i.route.place.file, i.route.place.line, new, anchor=_pass(i.route))


def _close_idle(files: Mapping[str, Sequence[str]], i: CloseIdleBefore) -> str | None:
    """The upstream's ``keepalive_timeout`` below the backend's idle timeout (half of it, in
    ms, when it is 2 s or less: gunicorn's ``--keep-alive`` default; else 1s, below Node.js's
    5 s ``keepAliveTimeout``): edited where it is set, else added after the ``keepalive`` line
    (ngx_http_upstream_module ``keepalive_timeout``, default 60s; nginx takes ``500ms``)."""
    idle = i.backend_idle_s
    value = f"{int(idle * 500)}ms" if idle is not None and idle <= 2 else "1s"
    kt = i.setting
    if kt is not None and kt.file and kt.line:
        return set_directive(files, "keepalive_timeout", value, setting_file=kt.file, setting_line=kt.line,
                             is_default=False, anchor_file=None, anchor_line=None)
    return insert_in_block(files, i.place.file, i.keepalive_line or i.place.line,
                           [f"keepalive_timeout {value};"])


def _header_buffer(files: Mapping[str, Sequence[str]], i: RaiseHeaderBuffer) -> str | None:
    """``*_buffer_size`` (the status line and headers must fit it: ngx_http_proxy_module), and
    above 8k the ``*_buffers`` with it: ``*_busy_buffers_size`` defaults to 2 x max(buffer_size,
    buffers.size) and must stay below (buffers.num - 1) x buffers.size
    (``ngx_http_proxy_merge_loc_conf``), which the default ``8 4k`` is not."""
    kind, new = i.route.kind, f"{i.size_bytes // 1024}k"
    name, place, s = f"{kind}_buffer_size", i.route.place, i.setting
    if s is not None and not s.is_default:
        return set_directive(files, name, new, setting_file=s.file, setting_line=s.line, is_default=False,
                             anchor_file=place.file, anchor_line=place.line, anchor=_pass(i.route))
    lines = [f"{name} {new};"] + ([f"{kind}_buffers 8 {new};"] if i.size_bytes > 8192 else [])
    return insert_in_block(files, place.file, place.line, lines, anchor=_pass(i.route))


def _sni(files: Mapping[str, Sequence[str]], i: SendServerName) -> str | None:
    """``proxy_ssl_server_name on`` (off by default: ngx_http_proxy_module)."""
    return insert_in_block(files, i.route.place.file, i.route.place.line, ["proxy_ssl_server_name on;"],
                           anchor=_pass(i.route))


def _resolver(files: Mapping[str, Sequence[str]], i: AddResolver) -> str | None:
    """``resolver NS valid=30s;``: a ``proxy_pass`` with variables resolves per request and needs
    one (ngx_http_core_module ``resolver``)."""
    return insert_in_block(files, i.route.place.file, i.route.place.line,
                           [f"resolver {i.nameserver} valid=30s;"], anchor=_pass(i.route))


def _connections(files: Mapping[str, Sequence[str]], i: RaiseConnectionLimit) -> str | None:
    """``worker_connections N`` where it is set (ngx_core_module / events)."""
    return set_directive(files, "worker_connections", str(i.value), setting_file=i.setting.file,
                         setting_line=i.setting.line, is_default=False, anchor_file=None, anchor_line=None)


def _open_files(files: Mapping[str, Sequence[str]], i: RaiseOpenFiles) -> str | None:
    """``worker_rlimit_nofile N`` after ``worker_processes`` in the main context
    (ngx_core_module ``worker_rlimit_nofile``)."""
    lines = files.get(i.main_file, ())
    idx = next((n + 1 for n, x in enumerate(lines) if x.strip().startswith("worker_processes")), None)
    return insert_after(files, i.main_file, idx, [f"worker_rlimit_nofile {i.value};"]) if idx else None


def _protocol(files: Mapping[str, Sequence[str]], i: SpeakProtocol) -> str | None:
    """The ``*_pass`` line speaking what the backend answered: ``fastcgi_pass host:port`` for a
    FastCGI server (no scheme: ngx_http_fastcgi_module), ``https://`` for TLS, ``proxy_pass
    http://`` for HTTP (from ``fastcgi_pass``, or from ``https://`` when nginx spoke TLS)."""
    lines = files.get(i.target.file or "")
    if not lines or i.target.line is None or not 1 <= i.target.line <= len(lines):
        return None
    old = new = lines[i.target.line - 1]
    if i.protocol == "http" and i.was_tls:
        new = old.replace("https://", "http://", 1)
    elif i.protocol == "fastcgi" and "proxy_pass" in old:
        new = old.replace("proxy_pass", "fastcgi_pass", 1).replace("http://", "", 1)
    elif i.protocol == "tls" and "http://" in old:
        new = old.replace("http://", "https://", 1)
    elif i.protocol == "http" and "fastcgi_pass" in old:
        new = old.replace("fastcgi_pass ", "proxy_pass http://", 1)
    return replace_line(files, i.target.file, i.target.line, [new]) if new != old else None


def _server_lines(files: Mapping[str, Sequence[str]], places: Sequence[Place],
                  edit: Callable[[str, int], str]) -> str | None:
    """One diff applying ``edit(line, index of its place)`` to the ``server`` lines at
    ``places`` that are in the first one's file (the file the fix names)."""
    if not places:
        return None
    path = places[0].file or ""
    before = list(files.get(path) or ())
    after = list(before)
    for n, place in enumerate(places):
        if place.file == path and place.line is not None and 1 <= place.line <= len(after):
            after[place.line - 1] = edit(after[place.line - 1], n)
    return unified(path, before, after) if after != before else None


def _return_servers(files: Mapping[str, Sequence[str]], i: ReturnServers) -> str | None:
    """The ``down`` flag off each ``server`` line: nginx never tries a server marked so
    (ngx_http_upstream_module ``server ... down``)."""
    return _server_lines(files, i.places, lambda text, _n: re.sub(r"\s+down(?=[\s;])", "", text))


def _tolerate(files: Mapping[str, Sequence[str]], i: TolerateFailures) -> str | None:
    """``max_fails=N fail_timeout=Ts`` on each ``server`` line, replaced where set, else added
    before the line's ``;`` (ngx_http_upstream_module ``server`` parameters)."""
    def edit(text: str, n: int) -> str:
        s = i.servers[n]
        for param, value in (("max_fails", str(s.max_fails)), ("fail_timeout", f"{s.fail_timeout_s:g}s")):
            if re.search(rf"\b{param}=\S+?(?=[\s;])", text):
                text = re.sub(rf"\b{param}=\S+?(?=[\s;])", f"{param}={value}", text)
            else:
                text = re.sub(r"\s*;", f" {param}={value};", text, count=1)
        return text

    return _server_lines(files, [s.place for s in i.servers], edit)


#: the intents nginx's grammar writes (``facts.edits``); the others have no nginx form here
RENDERERS: dict[type, Callable[[Mapping[str, Sequence[str]], Any], str | None]] = {
    KeepIdleConnections: _keep_idle, ReuseConnections: _reuse, CloseIdleBefore: _close_idle,
    RaiseHeaderBuffer: _header_buffer, SendServerName: _sni, AddResolver: _resolver,
    RaiseConnectionLimit: _connections, RaiseOpenFiles: _open_files, SpeakProtocol: _protocol,
    ReturnServers: _return_servers, TolerateFailures: _tolerate,
}
