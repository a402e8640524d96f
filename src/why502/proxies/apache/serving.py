"""Which targets Apache httpd passes a request for a path to: mod_proxy's own order, one request.

Apache's ``facts.routes.PathRouter`` (``ConfigFacts.router``, built by ``proxies.apache.diagnose``),
in the order httpd decides (apache/httpd ``modules/proxy/mod_proxy.c``):

1. ``proxy_trans()`` at the translate-name hook: a ``ProxyPass`` written inside a ``<Location>``
   (the per-directory ``dconf->alias``) first, then the server's ``ProxyPass``/``ProxyPassMatch``
   list in config order, the main server's before the virtual host's (``merge_proxy_config()``:
   ``apr_array_append(p, base->aliases, overrides->aliases)``); the **first** that matches wins
   (``ap_proxy_trans_match()``: a ``ProxyPass`` path is a prefix of the URI, a
   ``ProxyPassMatch`` a regex searched in it), and one whose URL is ``!`` takes the request out
   of proxying;
2. else the handler the request's sections set: ``SetHandler "proxy:fcgi://..."`` (or
   ``proxy:unix:...|fcgi://``) at server or virtual-host level, in a ``<Files>``/``<FilesMatch>``
   (matched on the file name, here the last segment of the path: the URI mapped without
   ``Alias`` or rewrites) or a ``<Location>``/``<LocationMatch>``; of the sections that apply,
   the one merged last sets it (``<Files>`` after ``<Directory>``, ``<Location>`` after
   ``<Files>``: core.html "How the sections are merged").

What is not modelled says "can't tell" (None), never a guess: a ``SetHandler`` inside a
``<Directory>``, ``<If>`` or ``<Proxy>`` section (which file a path maps to is the file system's),
``RewriteRule ... [P]``, and, with no ``Host`` known, virtual hosts that would route the path
differently.
"""

from __future__ import annotations

import fnmatch
import re
from functools import cached_property

from why502.proxies.apache.config import ApacheConfig, Directive, VHostBlock, split_args

_NEUTRAL = ("virtualhost", "ifmodule", "ifdefine", "ifversion")  # sections that do not route
_FILES = ("files", "filesmatch")
_LOCATIONS = ("location", "locationmatch")


def _sections(d: Directive) -> list[tuple[str, str]]:
    """(kind, argument) of each section enclosing ``d`` that is not a virtual host or a
    module/define condition (``<FilesMatch "\\.php$">`` -> ``("filesmatch", "\\.php$")``)."""
    out = []
    for s in d.scope:
        kind, _, arg = s.partition(" ")
        if kind.lower() in _NEUTRAL:
            continue
        words = [w.strip("\"'") for w in split_args(arg)]
        if len(words) > 1 and words[0] == "~":  # <Location ~ "re">: <LocationMatch "re">
            out.append((kind.lower() + "match", words[1]))
        else:
            out.append((kind.lower(), words[0] if words else ""))
    return out


def _search(pattern: str, text: str, flags: int = 0) -> bool:
    try:
        return re.search(pattern, text, flags) is not None
    except re.error:
        return False


class ApacheRouter:
    """``serving(path, host)`` over one parsed config (built on first use)."""

    def __init__(self, cfg: ApacheConfig) -> None:
        self._cfg = cfg

    @cached_property
    def _keys(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """(file, line) of each ProxyPass/ProxyPassMatch/SetHandler -> its targets' keys (a
        balancer's members)."""
        out: dict[tuple[str, int], list[str]] = {}
        for t in self._cfg.targets():
            out.setdefault((t.directive.file, t.directive.line), []).append(t.key)
        return {k: tuple(dict.fromkeys(v)) for k, v in out.items()}

    @cached_property
    def _blocks(self) -> list[VHostBlock | None]:
        """The virtual-host blocks a request may reach (None: the main server, when there is
        no ``<VirtualHost>``)."""
        return list(self._cfg.vhost_blocks) or [None]

    def _in(self, d: Directive, block: VHostBlock | None) -> bool:
        """Does ``d`` apply in ``block``: the main server's directives apply in every virtual
        host (merged into it), a virtual host's only in its own block."""
        return d.vhost is None or (block is not None and self._cfg._block(d) is block)

    def serving(self, path: str, host: str | None = None) -> tuple[str, ...] | None:
        uri = path.split("?", 1)[0].split("#", 1)[0] or "/"
        blocks: list[VHostBlock | None] = list(self._blocks)
        if host is not None and blocks != [None]:
            named: list[VHostBlock | None] = [
                b for b in blocks if b is not None and host.lower() in (n.lower() for n in b.names)]
            blocks = named[:1] or blocks[:1]  # else the address's first (default) virtual host
        answers = {self._route(uri, b) for b in blocks}
        return next(iter(answers)) if len(answers) == 1 else None

    def _route(self, uri: str, block: VHostBlock | None) -> tuple[str, ...] | None:
        cfg = self._cfg
        passes = [d for d in cfg.directives if d.name.lower() in ("proxypass", "proxypassmatch")
                  and d.args and self._in(d, block)]
        # 1. ProxyPass in a <Location>: the per-directory alias, asked first (proxy_trans)
        located = []
        for d in passes:
            secs = _sections(d)
            if not secs:
                continue
            if any(k not in _LOCATIONS for k, _ in secs):
                return None  # a ProxyPass in another section: not modelled
            if all(_section_applies(k, a, uri) for k, a in secs):
                located.append(d)
        if located:
            return self._answer(located[-1])  # the last <Location> merged sets the alias
        # 2. the server's list, first match wins
        for d in passes:
            if _sections(d):
                continue
            low = d.name.lower()
            pattern, url = (d.args[0], d.args[1] if len(d.args) > 1 else None)
            if "://" in pattern or pattern.startswith(("unix:", "!")):
                continue  # no path: only valid inside <Location>
            hit = _search(pattern, uri) if low == "proxypassmatch" else uri.startswith(pattern)
            if hit:
                return () if url == "!" else self._answer(d)
        # 3. the handler the sections set
        handlers = [d for d in cfg.directives if d.name.lower() == "sethandler" and d.args
                    and self._in(d, block)]
        best: tuple[int, int, Directive] | None = None
        for order, d in enumerate(handlers):
            secs = _sections(d)
            if any(k not in _FILES + _LOCATIONS for k, _ in secs):
                if d.args[0].lower().startswith("proxy:"):
                    return None  # a proxy handler in a <Directory>/<If>/...: not modelled
                continue
            if not all(_section_applies(k, a, uri) for k, a in secs):
                continue
            rank = 2 if any(k in _LOCATIONS for k, _ in secs) else 1 if secs else 0
            if best is None or (rank, order) >= (best[0], best[1]):
                best = (rank, order, d)
        if best is None or not best[2].args[0].lower().startswith("proxy:"):
            return ()
        return self._answer(best[2])

    def _answer(self, d: Directive) -> tuple[str, ...] | None:
        keys = self._keys.get((d.file, d.line))
        if keys is None:
            # ``!``, or a URL that names no backend why502 reads (a variable): can't tell
            return () if "!" in d.args else None
        return keys


def _section_applies(kind: str, arg: str, uri: str) -> bool:
    """Does a ``<Location>``/``<LocationMatch>``/``<Files>``/``<FilesMatch>`` take ``uri``
    (core.html: ``<Location>`` a URL prefix at a segment, or ``~`` regex; ``<Files>`` a
    wildcard on the file name, ``~`` regex; the Match forms a regex)."""
    name = uri.rsplit("/", 1)[-1]
    if kind == "locationmatch":
        return _search(arg, uri)
    if kind == "location":
        return uri == arg or uri.startswith(arg if arg.endswith("/") else arg + "/")
    if kind == "filesmatch":
        return _search(arg, name)
    return fnmatch.fnmatchcase(name, arg)


def apache_router(cfg: ApacheConfig) -> ApacheRouter:
    """Apache's ``facts.routes.PathRouter`` for ``cfg`` (``proxies.apache.diagnose``)."""
    return ApacheRouter(cfg)
