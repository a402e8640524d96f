"""Apache httpd 2.4 config to directives in scope and the backends mod_proxy sends to.

Pure text in, records out (``load_apache`` reads the files, following ``Include``/
``IncludeOptional`` globs, in the order httpd does: ``server/config.c`` ``ap_process_resource_config``
sorts a glob's matches).  What is modelled (httpd docs, mod_proxy.html, core.html):

- sections ``<VirtualHost>``, ``<Location>``/``<LocationMatch>``, ``<Proxy>``/``<ProxyMatch>``,
  ``<Directory>``, ``<Files>``, ``<IfModule>``/``<IfDefine>`` (taken as true);
- backends: ``ProxyPass``/``ProxyPassMatch PATH URL [key=value ...]`` (``!`` excludes),
  ``BalancerMember URL [key=value ...]`` inside ``<Proxy balancer://NAME>``, ``SetHandler
  "proxy:unix:/path.sock|fcgi://localhost"`` (mod_proxy_fcgi), ``RewriteRule ... URL [P]``;
- timeouts: a worker's ``timeout=`` else ``ProxyTimeout`` else ``Timeout`` (default 60 s,
  ``DEFAULT_TIMEOUT`` in include/httpd.h); ``connectiontimeout=`` defaults to the same,
  ``retry=`` to 60 s (mod_proxy.html "BalancerMember and ProxyPass parameters").
- ``${VAR}`` from Debian's ``/etc/apache2/envvars`` when the config lives next to it;
- ``apachectl -S`` or ``apache2 -t -D DUMP_INCLUDES`` output given instead of a config
  (``proxies.apache.dump``): the main config it names is read, and its virtual hosts (name,
  block file:line) are kept.
"""

from __future__ import annotations

import bisect
import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from why502.facts.setting import Setting
from why502.parsers.configread import ConfigBudget
from why502.parsers.rooted import proc_root, under_root
from why502.proxies.apache.detect import looks_like_dump
from why502.proxies.apache.dump import VHost, parse_apache_dump

# standard streams as an ErrorLog path (the official httpd image: ErrorLog /proc/self/fd/2)
_STREAMS = ("/dev/stderr", "/dev/stdout", "/proc/self/fd/", "/dev/fd/")

# name -> (default, where it is stated)
DEFAULTS: dict[str, tuple[str, str]] = {
    "Timeout": ("60", "include/httpd.h DEFAULT_TIMEOUT; core.html#timeout"),
    "retry": ("60", "mod_proxy.html ProxyPass parameters: retry 60"),
    "max": ("", "mod_proxy.html: max defaults to ThreadsPerChild (event/worker MPM)"),
    "enablereuse": ("Off", "mod_proxy.html: enablereuse defaults Off for mod_proxy_fcgi"),
}


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    file: str
    line: int
    scope: tuple[str, ...] = ()  # enclosing sections, outermost first: ("VirtualHost *:80", ...)

    @property
    def vhost(self) -> str | None:
        return next((s for s in self.scope if s.startswith("VirtualHost")), None)


@dataclass(frozen=True)
class ProxyTarget:
    """One place mod_proxy sends requests to."""

    key: str  # host:port or unix:/path
    kind: str  # proxy (http/https/ws) | fastcgi
    scheme: str | None
    host: str | None
    port: int | None
    unix_path: str | None
    directive: Directive  # the ProxyPass/BalancerMember/SetHandler line
    path: str | None = None  # the URL path it serves (ProxyPass's first argument)
    group: str | None = None  # balancer name
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k.lower() == name.lower()), None)


@dataclass
class VHostBlock:
    """A ``<VirtualHost ADDR>`` block: where it is and the names it serves."""

    address: str
    file: str
    line: int
    end: int = 0  # the line of ``</VirtualHost>`` (0 until it is read)
    names: list[str] = field(default_factory=list)  # ServerName first, then ServerAlias


@dataclass
class ApacheConfig:
    main_file: str
    server_root: str
    directives: list[Directive] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    vhost_blocks: list[VHostBlock] = field(default_factory=list)
    vhosts: list[VHost] = field(default_factory=list)  # from an apachectl -S dump, when given
    dump: str | None = None  # the dump file given instead of the config
    # the root the config was read under (a container's /proc/PID/root): every path it names is
    # inside it (``parsers.rooted``), never this host's file of the same name
    root: str | None = None
    _open: list[VHostBlock] = field(default_factory=list, repr=False)
    # lookups by name and by file:line, built on first use (``_indexes``): asking each target
    # for its virtual host and timeout walked every block and directive, quadratic in a config
    # of many virtual hosts (20,000: minutes)
    _by_name: dict[str, list[Directive]] = field(default_factory=dict, repr=False, compare=False)
    _blocks: dict[str, tuple[list[int], list[tuple[int, VHostBlock]], list[float]]] = field(
        default_factory=dict, repr=False, compare=False)
    _indexed: tuple[int, int] = field(default=(-1, -1), repr=False, compare=False)

    def _indexes(self) -> None:
        """(Re)build the lookups when directives or blocks were added since the last build."""
        if self._indexed == (len(self.directives), len(self.vhost_blocks)):
            return
        self._by_name = {}
        for d in self.directives:
            self._by_name.setdefault(d.name.lower(), []).append(d)
        per_file: dict[str, list[tuple[int, int, VHostBlock]]] = {}
        for order, b in enumerate(self.vhost_blocks):
            per_file.setdefault(b.file, []).append((b.line, order, b))
        self._blocks = {}
        for file, entries in per_file.items():
            entries.sort(key=lambda e: (e[0], e[1]))
            reach: list[float] = []  # the furthest line any block up to here covers (open: all)
            for _, _, b in entries:
                end = float("inf") if b.end == 0 else float(b.end)
                reach.append(max(reach[-1], end) if reach else end)
            self._blocks[file] = ([e[0] for e in entries], [(e[1], e[2]) for e in entries], reach)
        self._indexed = (len(self.directives), len(self.vhost_blocks))

    def vhost_of(self, d: Directive) -> str | None:
        """The name of the virtual host ``d`` is in (its ``ServerName``, else the address), by
        the block's file:line -- two vhosts on one address are told apart."""
        b = self._block(d)
        if b is None:
            return None
        return b.names[0] if b.names else b.address

    @property
    def files(self) -> list[str]:
        return list(self.texts)

    def last(self, name: str, scope: tuple[str, ...] | None = None,
             at: Directive | None = None) -> Directive | None:
        """The ``name`` in effect for ``scope``: the last one in its virtual host, else the last
        at server level (directives inside ``<Location>``/``<Proxy>``/... are not counted).
        With ``at`` (a directive of that virtual host), the vhost is its very block, so two
        vhosts on one address do not share their settings."""
        vh = _vh(scope) if scope else None
        block = self._block(at) if at is not None else None
        server_level = vhost_level = None
        self._indexes()
        for d in self._by_name.get(name.lower(), ()):
            if any(s.startswith(("Location", "Proxy", "Directory", "Files")) for s in d.scope):
                continue
            if d.vhost is None:
                server_level = d
            elif vh is not None and d.vhost == vh and (block is None or self._block(d) is block):
                vhost_level = d
        return vhost_level or server_level

    def _block(self, d: Directive) -> VHostBlock | None:
        """The first block (in the order read) of ``d``'s file whose lines hold ``d``'s: from
        the blocks starting at or before it, walking back only while one may still reach it."""
        self._indexes()
        index = self._blocks.get(d.file)
        if index is None:
            return None
        starts, blocks, reach = index
        best: tuple[int, VHostBlock] | None = None
        i = bisect.bisect_right(starts, d.line) - 1
        while i >= 0 and reach[i] >= d.line:
            order, b = blocks[i]
            if (b.end == 0 or d.line <= b.end) and (best is None or order < best[0]):
                best = (order, b)
            i -= 1
        return best[1] if best is not None else None

    def values(self, name: str) -> list[Directive]:
        self._indexes()
        return list(self._by_name.get(name.lower(), ()))

    @property
    def user(self) -> str | None:
        d = self.last("User")
        return d.args[0] if d and d.args else None

    @property
    def group(self) -> str | None:
        d = self.last("Group")
        return d.args[0] if d and d.args else None

    def resolve(self, path: str) -> str:
        """``path`` as httpd opens it: relative to ServerRoot (``ap_server_root_relative``), under
        the config's root when it was read in one (``parsers.rooted.under_root``)."""
        return under_root(self.root, path if path.startswith("/") else os.path.join(self.server_root, path))

    @property
    def stream_logs(self) -> list[str]:
        """``ErrorLog`` paths that are a standard stream (``/dev/stderr``, ``/proc/self/fd/2``: the
        official httpd image's) of an Apache read under a root: what its runtime keeps
        (``docker logs``), not a file; through ``/proc/PID/root`` they would be *our* streams."""
        return [d.args[0] for d in self.values("ErrorLog")
                if self.root and d.args and d.args[0].startswith(_STREAMS)]

    @property
    def error_logs(self) -> list[str]:
        out = []
        for d in self.values("ErrorLog"):
            if d.args and not d.args[0].startswith(("|", "syslog")) and d.args[0] not in self.stream_logs:
                p = self.resolve(d.args[0])
                if p not in out:
                    out.append(p)
        return out

    def timeout(self, t: ProxyTarget) -> Setting:
        """The response timeout of a target: ``timeout=``, else ``ProxyTimeout``, else ``Timeout``
        (of its virtual host, else the server), else 60 s."""
        v = t.param("timeout")
        if v is not None:
            return Setting(v, t.directive.file, t.directive.line, False)
        for name in ("ProxyTimeout", "Timeout"):
            d = self.last(name, t.directive.scope, t.directive)
            if d is not None and d.args:
                return Setting(d.args[0], d.file, d.line, False)
        return Setting(DEFAULTS["Timeout"][0], None, None, True)

    def balancers(self) -> dict[str, list[tuple[Directive, str, tuple[str, ...]]]]:
        """Each balancer's members however they are declared: ``(directive, member URL, its
        parameters)`` by ``balancer://name``.  mod_proxy.html: ``BalancerMember [balancerurl] url
        [key=value ...]`` -- inside ``<Proxy balancer://name ...>`` (whose opening line may carry
        the balancer's own parameters, ``<Proxy "balancer://app" lbmethod=bybusyness>``, quoted or
        not) the balancer URL is omitted; outside it, it comes first."""
        out: dict[str, list[tuple[Directive, str, tuple[str, ...]]]] = {}
        for d in self.directives:
            if d.name.lower() != "balancermember" or not d.args:
                continue
            args = d.args
            if args[0].lower().startswith("balancer://") and len(args) > 1:
                name, args = args[0], args[1:]
            else:
                sec = next((s for s in reversed(d.scope) if s.startswith("Proxy ")), "")
                words = split_args(sec)
                name = words[1] if len(words) > 1 else ""
            out.setdefault(_balancer_name(name), []).append((d, args[0], args[1:]))
        return out

    def targets(self) -> list[ProxyTarget]:
        """Every backend a request can reach: ``ProxyPass``/``ProxyPassMatch`` URLs,
        ``RewriteRule ... [P]`` substitutions, ``SetHandler proxy:...``; a ``balancer://`` URL,
        reached by any of them, stands for its members (``balancers``)."""
        balancers = self.balancers()
        out: list[ProxyTarget] = []

        def reach(url: str, d: Directive, path: str | None, params: tuple[tuple[str, str], ...]) -> None:
            if url.lower().startswith("balancer://"):
                name = _balancer_name(url)
                for m, member, rest in balancers.get(name, []):
                    t = _target(member, m, path, _params(rest))
                    if t is not None:
                        out.append(ProxyTarget(**{**t.__dict__, "group": name}))
                return
            t = _target(url, d, path, params)
            if t is not None and (d.name.lower() != "rewriterule" or "$" not in t.key):
                out.append(t)

        for d in self.directives:
            low = d.name.lower()
            if low in ("proxypass", "proxypassmatch") and d.args:
                path, url, rest = _pass_args(d)
                if url is None or url == "!":
                    continue
                reach(url, d, path, _params(rest))
            elif low == "sethandler" and d.args and d.args[0].lower().startswith("proxy:"):
                reach(d.args[0][len("proxy:"):], d, None, ())
            elif low == "rewriterule" and len(d.args) >= 3 and re.search(r"\bP\b", d.args[2].strip("[]")):
                reach(d.args[1], d, None, ())
        return out


def _balancer_name(url: str) -> str:
    """``balancer://app`` of ``"balancer://app/"``, ``balancer://app/path``, ``balancer://App``
    (the name is the URL's host part; a trailing path is the request's)."""
    url = url.strip("\"'")
    return "balancer://" + url[len("balancer://"):].split("/")[0] if url.lower().startswith(
        "balancer://") else url.rstrip("/")


def _vh(scope: tuple[str, ...]) -> str | None:
    return next((s for s in scope if s.startswith("VirtualHost")), None)


def _pass_args(d: Directive) -> tuple[str | None, str | None, tuple[str, ...]]:
    """``ProxyPass [PATH] URL [params]`` (inside ``<Location>`` the path is omitted)."""
    args = d.args
    if args[0] == "!" or "://" in args[0] or args[0].startswith("unix:"):
        return None, args[0], args[1:]
    if len(args) < 2:
        return args[0], None, ()
    return args[0], args[1], args[2:]


def _params(words: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            out.append((k, v))
    return tuple(out)


_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[^\]]+\]|[^/:]+)(?::(?P<port>\d{1,5}))?")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "fcgi": 9000, "ajp": 8009,
                  "scgi": 4000, "uwsgi": 3031}


def _target(url: str, d: Directive, path: str | None,
            params: tuple[tuple[str, str], ...]) -> ProxyTarget | None:
    """``http://h:p/``, ``fcgi://h:p/``, ``unix:/path.sock|fcgi://localhost/`` (mod_proxy's UDS
    form, mod_proxy.html "Unix Domain Socket")."""
    if url.lower().startswith("unix:"):
        sock, _, rest = url[5:].partition("|")
        scheme = rest.split("://", 1)[0].lower() if "://" in rest else "http"
        kind = "fastcgi" if scheme == "fcgi" else "proxy"
        return ProxyTarget(key=f"unix:{sock}", kind=kind, scheme=scheme, host=None, port=None,
                           unix_path=sock, directive=d, path=path, params=params)
    m = _URL.match(url)
    if not m:
        return None
    scheme = m.group("scheme").lower()
    host = m.group("host").strip("[]")
    port = int(m.group("port")) if m.group("port") else _DEFAULT_PORTS.get(scheme)
    kind = "fastcgi" if scheme == "fcgi" else "proxy"
    key = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return ProxyTarget(key=key, kind=kind, scheme=scheme, host=host, port=port, unix_path=None,
                       directive=d, path=path, params=params)


_SECTION_OPEN = re.compile(r"^<\s*([A-Za-z]+)\s*([^>]*)>\s*$")
_SECTION_CLOSE = re.compile(r"^</\s*([A-Za-z]+)\s*>\s*$")


def split_args(text: str) -> list[str]:
    """Words of a directive line (double or single quotes group, httpd's ``ap_getword_conf``)."""
    return [re.sub(r'\\(["\\])', r"\1", a) if a else (b or c)
            for a, b, c in re.findall(r'"((?:\\.|[^"\\])*)"|\'([^\']*)\'|(\S+)', text)]


def envvars(server_root: str, budget: ConfigBudget | None = None) -> dict[str, str]:
    """Debian's ``envvars``: ``export APACHE_LOG_DIR=/var/log/apache2$SUFFIX`` and friends (read
    within the config's ``budget``: it is part of what httpd reads)."""
    out: dict[str, str] = {"SUFFIX": ""}
    try:
        text = (budget or ConfigBudget()).read(os.path.join(server_root, "envvars"))
    except OSError:
        return out
    for m in re.finditer(r"(?m)^[^\S\n]*export[^\S\n]+(\w+)=(\S+)", text):
        out[m.group(1)] = re.sub(r"\$\{?(\w+)\}?", lambda v: out.get(v.group(1), ""),
                                 m.group(2).strip("'\""))
    return out


def parse_apache_text(text: str, path: str, server_root: str | None = None,
                      read_includes: bool = True, budget: ConfigBudget | None = None,
                      root: str | None = None) -> ApacheConfig:
    """Parse ``text`` (the file ``path``); ``Include`` globs are read from disk when asked, each
    through ``budget`` (the bytes of the whole config, ``parsers.configread``).  ``root``: the
    root the config is read under (a container's ``/proc/PID/root``): ``ServerRoot``, includes
    and logs are paths inside it, links followed inside it (``parsers.rooted``)."""
    server = under_root(root, server_root) if server_root else os.path.dirname(os.path.abspath(path))
    cfg = ApacheConfig(main_file=path, server_root=server, root=root)
    budget = budget or ConfigBudget()
    env = envvars(server, budget)
    _parse(cfg, text, path, [], env, read_includes, depth=0, budget=budget)
    cfg.problems += [f"ErrorLog {p} not read: the Apache running under {root} writes it to its "
                     "standard error, which its runtime keeps (docker logs CONTAINER 2>&1 | why502 ...)"
                     for p in cfg.stream_logs]
    return cfg


def _parse(cfg: ApacheConfig, text: str, path: str, scope: list[str], env: dict[str, str],
           read_includes: bool, depth: int, budget: ConfigBudget) -> None:
    cfg.texts[path] = text
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i + 1
        raw = lines[i]
        while raw.endswith("\\") and i + 1 < len(lines):  # continuation lines
            i += 1
            raw = raw[:-1] + " " + lines[i]
        i += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), m.group(0)), line)
        if m := _SECTION_CLOSE.match(line):
            if scope:
                scope.pop()
            if m.group(1).lower() == "virtualhost" and cfg._open:
                cfg._open.pop().end = start
            continue
        if m := _SECTION_OPEN.match(line):
            scope.append(f"{m.group(1)} {m.group(2).strip()}".strip())
            if m.group(1).lower() == "virtualhost":
                cfg._open.append(VHostBlock(m.group(2).strip(), path, start))
                cfg.vhost_blocks.append(cfg._open[-1])
            continue
        words = split_args(line)
        d = Directive(words[0], tuple(words[1:]), path, start, tuple(scope))
        if d.name.lower() in ("servername", "serveralias") and cfg._open and d.args:
            cfg._open[-1].names.extend(a.split(":")[0] if d.name.lower() == "servername" else a
                                       for a in d.args)
        if d.name.lower() == "serverroot" and d.args:
            cfg.server_root = under_root(cfg.root, d.args[0])
            env.update(envvars(cfg.server_root, budget))
        if d.name.lower() in ("include", "includeoptional") and d.args and read_includes:
            _include(cfg, d, scope, env, depth, budget)
            continue
        cfg.directives.append(d)


def _include(cfg: ApacheConfig, d: Directive, scope: list[str], env: dict[str, str],
             depth: int, budget: ConfigBudget) -> None:
    pattern = cfg.resolve(d.args[0])
    matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    if os.path.isdir(pattern):
        matches = sorted(str(p) for p in Path(pattern).rglob("*") if p.is_file())
    if not matches and d.name.lower() == "include" and not glob.has_magic(pattern):
        cfg.problems.append(f"{d.file}:{d.line}: Include {pattern}: no such file")
    if depth > 16:
        cfg.problems.append(f"{d.file}:{d.line}: Include nested too deep")
        return
    for m in matches:
        m = under_root(cfg.root, m)  # a link to an absolute path: inside the root too
        try:
            text = budget.read(m)
        except OSError as err:  # unreadable, or a FIFO/device: a problem, as httpd says it
            cfg.problems.append(f"{d.file}:{d.line}: Include {m}: {err.strerror or err}")
            continue
        _parse(cfg, text, m, scope, env, True, depth + 1, budget)


def load_apache(path: str, root: str | None = None) -> ApacheConfig:
    """Read ``path`` and every file it includes (an ``OSError`` on ``path`` is the caller's),
    all through one ``ConfigBudget`` (``parsers.configread``: no FIFO or device is read, the
    whole config past ``WHY502_MAX_CONFIG_BYTES`` is an ``InputError``).
    ``root``: the root it is read under, by default the ``/proc/PID/root`` ``path`` is read
    through (a container's master: ``parsers.rooted.proc_root``).
    ``path`` may hold ``apachectl -S`` / ``-D DUMP_INCLUDES`` output: the main config it names is
    read instead (an ``OSError`` when none of its candidates can be read)."""
    root = root or proc_root(path)
    budget = ConfigBudget()
    text = budget.read(path)
    if not looks_like_dump(text):
        return parse_apache_text(text, path, budget=budget, root=root)
    dump = parse_apache_dump(text)
    for main in dump.main_candidates():
        main = under_root(root, main)
        try:
            main_text = budget.read(main)
        except OSError:
            continue
        cfg = parse_apache_text(main_text, main, dump.server_root, budget=budget, root=root)
        cfg.vhosts, cfg.dump = dump.vhosts, path
        return cfg
    tried = ", ".join(dump.main_candidates()) or "no ServerRoot or (*) line in it"
    raise OSError(f"an apachectl -S / DUMP_INCLUDES output whose main config cannot be read ({tried})")
