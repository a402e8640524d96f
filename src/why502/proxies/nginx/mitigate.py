"""nginx's part of ``why502 mitigate`` (its ``mitigate`` plug-in, reached through
``Hooks.mitigate``): its upstream groups, and the config text of each stop-gap.  The text is
applied by ``why502 fix``'s transaction (lock, hash check, backup, ``nginx -t``, reload, verify,
rollback, journal); nothing here writes a file.

Every line written carries ``# why502 mitigation ID`` so the config says what is temporary.

- take out: ``down`` on the ``server`` line (ngx_http_upstream_module, "server ... down: marks
  the server as permanently unavailable");
- fallback when every server is down: ``proxy_cache_use_stale error timeout http_502 http_503
  http_504`` where the location has a ``proxy_cache`` (ngx_http_proxy_module), else
  ``error_page 502 503 504 @why502_...`` to a named location that answers a small static 503
  with ``Retry-After`` (ngx_http_core_module ``error_page``; RFC 9110 15.6.4: 503 is "temporarily
  unable", Retry-After says when to come back);
- more time: ``proxy_read_timeout`` raised in the locations that proxy to the group, the old
  value kept in the comment.
"""

from __future__ import annotations

import re

from why502.app.mitigate.model import Group, Member, Stopgaps
from why502.errors import InputError
from why502.proxies.base import resolve
from why502.proxies.nginx.config.model import Location, NginxConfig
from why502.proxies.nginx.proxy import PROXY as NGINX

FALLBACK_BODY = "This service is temporarily unavailable. Please retry in a minute.\\n"
RETRY_AFTER = "60"


def load_config(conf: str) -> NginxConfig:
    """nginx's config at ``conf``, read by its loader (``Hooks.load_config``, in ``sources``: a
    layer above this folder's core, so resolved by name, as the other plug-ins reach theirs)."""
    return resolve(NGINX.hooks.load_config)(conf)  # type: ignore[operator, no-any-return]


def nginx_groups(conf: str) -> tuple[NginxConfig, list[Group]]:
    """The config (parsed by why502, from the file) and its http ``upstream`` blocks."""
    cfg = load_config(conf)
    groups = []
    for name, up in cfg.upstreams.items():
        members = tuple(Member(s.address, s.address, s.host, s.port, s.unix_path, s.file, s.line,
                               s.backup, s.down) for s in up.servers)
        groups.append(Group(name, members, up.file, up.line))
    return cfg, groups


def _lines(texts: dict[str, str], path: str) -> list[str]:
    if path not in texts:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                texts[path] = fh.read()
        except OSError as err:
            raise InputError(f"{path}: {err.strerror or err}") from None
    return texts[path].splitlines(keepends=True)


_SERVER = re.compile(r"^(\s*server\s+[^;#]*?)\s*;")


def nginx_take_out(texts: dict[str, str], member: Member, mid: str, evidence: str) -> None:
    """``down`` on ``member``'s ``server`` line (``texts`` collects the new text per file)."""
    lines = _lines(texts, member.file)
    i = member.line - 1
    m = _SERVER.match(lines[i]) if 0 <= i < len(lines) else None
    if m is None:
        raise InputError(f"{member.file}:{member.line}: the server line of {member.address} is not one "
                         "'server ...;' line: take it out by hand")
    end = lines[i][m.end():].rstrip("\r\n")
    newline = lines[i][len(lines[i].rstrip("\r\n")):]
    note = evidence.replace("\n", " ")[:120]
    lines[i] = f"{m.group(1)} down;{end}  # why502 mitigation {mid}: taken out ({note}){newline}"
    texts[member.file] = "".join(lines)


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def nginx_locations(cfg: NginxConfig, group: str) -> list[Location]:
    """The locations whose ``proxy_pass`` sends to the upstream ``group``."""
    return [loc for _srv, loc, t in cfg.located_targets() if t.kind == "proxy" and t.group == group]


def nginx_fallback(cfg: NginxConfig, texts: dict[str, str], group: str, mid: str) -> str:
    """The fallback for each location that proxies to ``group``; the response it serves."""
    locations = nginx_locations(cfg, group)
    if not locations:
        raise InputError(f"no location proxies to upstream {group}: no fallback to add")
    tag = re.sub(r"[^A-Za-z0-9_]", "_", mid)
    served = []
    inserts: dict[str, list[tuple[int, str]]] = {}
    for loc in locations:
        if loc.depth != 0 or loc.is_named:
            raise InputError(f"{loc.where}: a nested or named location: add its fallback by hand")
        lines = _lines(texts, loc.file)
        pad = _indent(lines[loc.line - 1])
        inner = pad + "    "
        cache = loc.effective("proxy_cache").value
        if cache and cache != "off":
            add = (f"{inner}# why502 mitigation {mid}: temporary, serve the cached copy while {group} "
                   "is down\n"
                   f"{inner}proxy_cache_use_stale error timeout http_502 http_503 http_504;\n")
            served.append(f"{loc.label}: the last cached copy of each page (proxy_cache {cache}); "
                          "pages never cached still fail")
        else:
            add = f"{inner}# why502 mitigation {mid}: temporary fallback while {group} is down\n" \
                  f"{inner}error_page 502 503 504 =503 @why502_{tag};\n"
            named = (f"{pad}# why502 mitigation {mid}: the fallback's answer\n"
                     f"{pad}location @why502_{tag} {{\n"
                     f"{inner}default_type text/plain;\n"
                     f"{inner}add_header Retry-After {RETRY_AFTER} always;\n"
                     f"{inner}add_header X-Why502-Mitigation {mid} always;\n"
                     f"{inner}return 503 \"{FALLBACK_BODY}\";\n"
                     f"{pad}}}\n")
            inserts.setdefault(loc.file, []).append((loc.line - 1, named))
            served.append(f"{loc.label}: HTTP 503, Retry-After: {RETRY_AFTER}, "
                          f"body \"{FALLBACK_BODY.replace(chr(92) + 'n', '')}\"")
        inserts.setdefault(loc.file, []).append((loc.line, add))  # first line inside the block
    for path, items in inserts.items():
        lines = _lines(texts, path)
        for at, text in sorted(items, key=lambda x: x[0], reverse=True):
            lines[at:at] = [text]
        texts[path] = "".join(lines)
    return "; ".join(served)


def nginx_timeout_raise(cfg: NginxConfig, texts: dict[str, str], group: str, mid: str, seconds: int) -> str:
    """``proxy_read_timeout SECONDSs`` in each location that proxies to ``group``; what changed."""
    locations = nginx_locations(cfg, group)
    if not locations:
        raise InputError(f"no location proxies to upstream {group}: no timeout to raise")
    said = []
    edits: dict[str, list[tuple[int, int, list[str]]]] = {}
    for loc in locations:
        setting = loc.effective("proxy_read_timeout")
        lines = _lines(texts, loc.file)
        own = [d for d in loc.directives if d.name == "proxy_read_timeout"]
        pad = _indent(lines[loc.line - 1]) + "    "
        note = f"{pad}# why502 mitigation {mid}: temporary, was {setting.value or '60s'}\n"
        if own and own[-1].file == loc.file:
            i = own[-1].line - 1
            if not re.match(r"^\s*proxy_read_timeout\s+\S+\s*;\s*(#.*)?$", lines[i].rstrip("\r\n")):
                raise InputError(f"{own[-1].where}: proxy_read_timeout is not alone on its line: "
                                 "raise it by hand")
            edits.setdefault(loc.file, []).append(
                (i, i + 1, [note, f"{_indent(lines[i])}proxy_read_timeout {seconds}s;\n"]))
        else:
            edits.setdefault(loc.file, []).append(
                (loc.line, loc.line, [note, f"{pad}proxy_read_timeout {seconds}s;\n"]))
        said.append(f"{loc.label}: proxy_read_timeout {setting.value or '60s'} -> {seconds}s")
    for path, items in edits.items():
        lines = _lines(texts, path)
        for a, b, new in sorted(items, key=lambda x: x[0], reverse=True):
            lines[a:b] = new
        texts[path] = "".join(lines)
    return "; ".join(said)


STOPGAPS = Stopgaps(groups=nginx_groups, take_out=nginx_take_out, fallback=nginx_fallback,
                    timeout_raise=nginx_timeout_raise)
"""nginx's stop-gaps (``Hooks.mitigate``): ``down``, the fallback, a timeout raise."""
