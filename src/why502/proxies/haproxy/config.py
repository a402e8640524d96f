"""HAProxy 2.x config (``haproxy.cfg``) to typed sections, servers and effective settings.

Pure text in, records out, so it is tested on recorded configs without haproxy installed.  What
the grammar is (HAProxy's ``doc/configuration.txt``, section 2 and 4):

- a section starts with a keyword at the start of a logical line: ``global``, ``defaults
  [NAME] [from NAME]``, ``frontend NAME``, ``backend NAME``, ``listen NAME`` (and a few more
  that carry no proxying: ``resolvers``, ``peers``, ``userlist``, ``cache``, ``program``, ...);
- a proxy section takes every setting it does not set from the last ``defaults`` section above
  it, or from the one it names with ``from`` (configuration.txt 4, "Proxies": "A "defaults"
  section sets default parameters for all other sections following its declaration");
- ``#`` starts a comment, backslash escapes and quotes group words (2.2 "Quoting and escaping").

Defaults of the settings diagnose needs are data (``DEFAULTS``) with the sentence of
``doc/configuration.txt`` (2.6) or ``include/haproxy/defaults.h`` that states them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from why502.facts.setting import Setting
from why502.parsers.configread import ConfigBudget
from why502.parsers.rooted import proc_root, under_root

SECTION_KEYWORDS = ("global", "defaults", "frontend", "backend", "listen", "resolvers", "peers",
                    "userlist", "cache", "program", "http-errors", "ring", "mailers", "fcgi-app")
PROXY_KINDS = ("frontend", "backend", "listen")

# name -> (value, where the default is stated).  "" = no default: the timeout is infinite and
# haproxy warns at start-up ("missing timeouts for proxy ...", configuration.txt 4.2 "timeout
# connect": "An unspecified timeout results in an infinite timeout, which is not recommended").
DEFAULTS: dict[str, tuple[str, str]] = {
    "timeout connect": ("", "configuration.txt 4.2 timeout connect: unspecified = infinite"),
    "timeout server": ("", "configuration.txt 4.2 timeout server: unspecified = infinite"),
    "timeout client": ("", "configuration.txt 4.2 timeout client: unspecified = infinite"),
    # "If unspecified, the same value as the backend's connection timeout ("timeout connect")"
    "timeout queue": ("=timeout connect", "configuration.txt 4.2 timeout queue"),
    # "If unspecified, the time to wait is bounded by "timeout client""; -> client
    "timeout http-request": ("=timeout client", "configuration.txt 4.2 timeout http-request"),
    "retries": ("3", "include/haproxy/defaults.h CONN_RETRIES"),
    "inter": ("2000", "include/haproxy/defaults.h DEF_CHKINTR (ms); configuration.txt 5.2 inter"),
    "fall": ("3", "configuration.txt 5.2 fall: 'This value defaults to 3 if unspecified'"),
    "rise": ("2", "configuration.txt 5.2 rise: 'This value defaults to 2 if unspecified'"),
    "maxconn": ("0", "configuration.txt 5.2 maxconn: 0 (default) means unlimited"),
    "http-reuse": ("safe", "configuration.txt 4.2 http-reuse: 'safe' is the default"),
}

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_TIME = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)?$")


def time_ms(value: str | None) -> float | None:
    """A HAProxy time (``50000`` = 50 s: the default unit is the millisecond, ``5s``, ``1m``)."""
    if not value:
        return None
    m = _TIME.match(value.strip())
    if not m:
        return None
    return float(m.group(1)) * _UNITS[m.group(2) or "ms"]


def _nameserver(address: str) -> str:
    """A ``nameserver`` address as ``host:port`` (``[v6]:port``): HAProxy's address forms
    (``udp@``/``ipv4@``/``ipv6@`` prefixes; an IPv6 address's port after its last colon,
    ``::1:53``, or bracketed), the port 53 when none is written (configuration.txt 5.3.2)."""
    bare = address.split("@", 1)[1] if "@" in address else address
    if bare.startswith("["):
        host, _, port = bare[1:].partition("]")
        return f"[{host}]:{port.lstrip(':') or 53}"
    if bare.count(":") == 0:
        return f"{bare}:53"
    host, _, port = bare.rpartition(":")
    if ":" in host or address.startswith("ipv6@"):  # IPv6: the port follows the last colon
        return f"[{host}]:{port}" if port.isdigit() and host else f"[{bare}]:53"
    return f"{host}:{port}"


@dataclass(frozen=True)
class Line:
    """One logical config line: its words (quotes removed), the file and line it starts on."""

    words: tuple[str, ...]
    file: str
    line: int

    @property
    def keyword(self) -> str:
        """``timeout server``/``option redispatch`` count as one keyword with their first word."""
        if self.words[0] in ("timeout", "option", "no") and len(self.words) > 1:
            if self.words[0] == "no" and self.words[1] == "option" and len(self.words) > 2:
                return f"no option {self.words[2]}"
            return f"{self.words[0]} {self.words[1]}"
        return self.words[0]

    @property
    def value(self) -> str:
        n = len(self.keyword.split())
        return " ".join(self.words[n:])


@dataclass(frozen=True)
class Server:
    """A ``server`` line of a backend/listen section (configuration.txt 5.2)."""

    name: str
    address: str  # as written: ``127.0.0.1:8080``, ``unix@/run/app.sock``, ``/run/app.sock``
    host: str | None
    port: int | None
    unix_path: str | None
    params: tuple[str, ...]
    file: str
    line: int

    @property
    def check(self) -> bool:
        return "check" in self.params

    @property
    def backup(self) -> bool:
        return "backup" in self.params

    def param(self, name: str) -> str | None:
        """The value of ``inter 2s``/``maxconn 10``/... on this line, or None."""
        for i, w in enumerate(self.params[:-1]):
            if w == name:
                return self.params[i + 1]
        return None

    def setting(self, name: str) -> Setting:
        """A per-server parameter with HAProxy's default when unset (``DEFAULTS``)."""
        v = self.param(name)
        if v is not None:
            return Setting(v, self.file, self.line, False)
        return Setting(DEFAULTS[name][0], None, None, True)


@dataclass
class Section:
    """A ``global``/``defaults``/``frontend``/``backend``/``listen``/... section."""

    kind: str
    name: str
    file: str
    line: int
    lines: list[Line] = field(default_factory=list)
    defaults: Section | None = None  # the defaults section it inherits from
    servers: list[Server] = field(default_factory=list)

    def own(self, keyword: str) -> Line | None:
        """The last line of this section setting ``keyword`` (the last one wins)."""
        found = None
        for ln in self.lines:
            if ln.keyword == keyword:
                found = ln
        return found

    def effective(self, keyword: str) -> Setting:
        """``keyword``'s value here, else from the defaults section, else HAProxy's default."""
        sec: Section | None = self
        while sec is not None:
            ln = sec.own(keyword)
            if ln is not None:
                return Setting(ln.value, ln.file, ln.line, False)
            sec = sec.defaults
        default = DEFAULTS.get(keyword, ("", ""))[0]
        if default.startswith("="):
            inherited = self.effective(default[1:])
            return Setting(inherited.value, inherited.file, inherited.line, True)
        return Setting(default, None, None, True)

    def option(self, name: str) -> bool:
        """``option NAME`` in effect (``no option NAME`` in a later scope turns it off)."""
        sec: Section | None = self
        while sec is not None:
            for ln in reversed(sec.lines):
                if ln.keyword == f"option {name}":
                    return True
                if ln.keyword == f"no option {name}":
                    return False
            sec = sec.defaults
        return False

    @property
    def default_backend(self) -> str | None:
        ln = self.own("default_backend") or (self.defaults.own("default_backend")
                                             if self.defaults else None)
        return ln.value if ln else None

    @property
    def binds(self) -> list[str]:
        return [ln.words[1] for ln in self.lines if ln.keyword == "bind" and len(ln.words) > 1]


@dataclass(frozen=True)
class Problem:
    severity: str
    message: str
    file: str | None = None
    line: int | None = None


@dataclass
class HaproxyConfig:
    """A parsed ``haproxy.cfg``: its sections, in order, and the text of each file read."""

    main_file: str
    sections: list[Section] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # the root it was read under (a container's /proc/PID/root): the paths it names (its
    # runtime-API socket) are inside it (``parsers.rooted``), never this host's
    root: str | None = None

    @property
    def files(self) -> list[str]:
        return list(self.texts)

    @property
    def global_(self) -> Section | None:
        return next((s for s in self.sections if s.kind == "global"), None)

    @property
    def backends(self) -> list[Section]:
        """Sections that hold servers: ``backend`` and ``listen``."""
        return [s for s in self.sections if s.kind in ("backend", "listen")]

    @property
    def frontends(self) -> list[Section]:
        return [s for s in self.sections if s.kind in ("frontend", "listen")]

    def backend(self, name: str) -> Section | None:
        return next((s for s in self.backends if s.name == name), None)

    def nameservers(self, name: str) -> tuple[str, ...]:
        """The addresses of the ``nameserver <id> <address>[:port]`` lines of the ``resolvers
        <name>`` section (configuration.txt 5.3.2; the port 53 when none is written), in order:
        the servers HAProxy asks about a ``server`` line's name with ``resolvers <name>``.  A
        section that reads the host's (``parse-resolv-conf``) adds none here: those are the
        host's resolver's."""
        sec = next((s for s in self.sections if s.kind == "resolvers" and s.name == name), None)
        if sec is None:
            return ()
        return tuple(_nameserver(ln.words[2]) for ln in sec.lines
                     if ln.keyword == "nameserver" and len(ln.words) > 2)

    def global_values(self, keyword: str) -> list[Line]:
        g = self.global_
        return [ln for ln in g.lines if ln.keyword == keyword] if g else []

    @property
    def stats_sockets(self) -> list[str]:
        """Runtime-API sockets (``stats socket /run/haproxy/admin.sock mode 660 level admin``;
        ``ipv4@127.0.0.1:9999`` forms too), management.txt 9.3."""
        out = [ln.words[2] for ln in self.global_values("stats") if len(ln.words) > 2
               and ln.words[1] == "socket"]
        if not self.root:
            return out
        return [f"unix@{under_root(self.root, a[5:])}" if a.startswith("unix@/")
                else under_root(self.root, a) if a.startswith("/") else a for a in out]

    @property
    def user(self) -> str | None:
        u = self.global_values("user")
        return u[-1].value if u else None

    @property
    def group(self) -> str | None:
        g = self.global_values("group")
        return g[-1].value if g else None

    @property
    def log_targets(self) -> list[str]:
        """Where ``log`` lines send the logs (an address, ``/dev/log``, ``stdout``, ``ring@``)."""
        return [ln.words[1] for ln in self.global_values("log") if len(ln.words) > 1
                and ln.words[1] != "global"]


def fcgi_app(cfg: HaproxyConfig, sec: Section) -> Section | None:
    """The ``fcgi-app`` section the backend's ``use-fcgi-app`` names (configuration.txt 10.1.2)."""
    ln = sec.own("use-fcgi-app")
    if ln is None or len(ln.words) < 2:
        return None
    return next((s for s in cfg.sections if s.kind == "fcgi-app" and s.name == ln.words[1]), None)


def keeps_connections(app: Section) -> tuple[bool, Setting | None]:
    """Whether the ``fcgi-app`` asks the application to keep its connection after a response,
    and the line that says so: ``option keep-conn`` is on unless ``no option keep-conn`` comes
    last (src/fcgi-app.c sets ``FCGI_APP_FL_KEEP_CONN`` for every new ``fcgi-app``)."""
    for ln in reversed(app.lines):
        if ln.keyword == "no option keep-conn":
            return False, Setting("off", ln.file, ln.line, False)
        if ln.keyword == "option keep-conn":
            return True, Setting("on", ln.file, ln.line, False)
    return True, None



def held_idle_connections(cfg: HaproxyConfig, sec: Section) -> Setting | None:
    """When ``sec``'s idle FastCGI connections can each hold a worker of the application (its
    ``fcgi-app`` keeps connections and ``http-reuse`` is ``safe``: the first request of a new
    client never reuses an idle one, configuration.txt 4.2; haproxy/haproxy#2936), what says so,
    at the ``fcgi-app`` section; else None.  Lint rule W502-041 and diagnose read it."""
    app = fcgi_app(cfg, sec)
    if app is None:
        return None
    keeps, line = keeps_connections(app)
    reuse = sec.effective("http-reuse")
    if not keeps or reuse.value != "safe":
        return None
    keep = "option keep-conn" + (f" (line {line.line})" if line is not None and line.line else " (default)")
    reused = "http-reuse safe" + (" (default)" if reuse.is_default else "")
    return Setting(f"fcgi-app {app.name}: {keep}, {reused}", app.file, app.line, False)


_QUOTED = re.compile(r'"((?:\\.|[^"\\])*)"|\'([^\']*)\'|((?:\\.|[^\s"\'#])+)|(#.*)')


def split_words(text: str) -> list[str]:
    """Words of one line (configuration.txt 2.2: quotes group, backslash escapes, # comments)."""
    words: list[str] = []
    for m in _QUOTED.finditer(text):
        if m.group(4) is not None:
            break
        word = m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None \
            else m.group(3)
        words.append(re.sub(r"\\(.)", r"\1", word or ""))
    return words


def parse_haproxy_text(text: str, path: str = "haproxy.cfg") -> HaproxyConfig:
    """Parse the text of a ``haproxy.cfg`` (``path`` names it in file:line and diffs)."""
    cfg = HaproxyConfig(main_file=path)
    _parse_file(cfg, text, path, {})
    return cfg


def _parse_file(cfg: HaproxyConfig, text: str, path: str, named_defaults: dict[str, Section]) -> None:
    """Add the sections of one file to ``cfg``: a section ends with its file, the last
    ``defaults`` above (in an earlier file too) and the named ones carry on (HAProxy reads its
    ``-f`` files one after the other into one configuration, management.txt 3)."""
    cfg.texts[path] = text
    current: Section | None = None
    last_defaults = next((s for s in reversed(cfg.sections) if s.kind == "defaults"), None)
    for no, raw in enumerate(text.splitlines(), start=1):
        words = split_words(raw)
        if not words:
            continue
        if words[0] in SECTION_KEYWORDS:
            kind = words[0]
            name = words[1] if len(words) > 1 and words[1] != "from" else ""
            current = Section(kind=kind, name=name, file=path, line=no)
            if kind in PROXY_KINDS or kind == "defaults":
                parent = last_defaults
                if "from" in words[1:-1]:
                    ref = words[words.index("from") + 1]
                    parent = named_defaults.get(ref)
                    if parent is None:
                        cfg.problems.append(Problem("error", f"defaults section '{ref}' not found",
                                                    path, no))
                current.defaults = parent if kind != "defaults" or "from" in words else None
            if kind == "defaults":
                last_defaults = current
                if name:
                    named_defaults[name] = current
            cfg.sections.append(current)
            continue
        if current is None:
            cfg.problems.append(Problem("warning", f"'{words[0]}' outside any section", path, no))
            continue
        line = Line(tuple(words), path, no)
        current.lines.append(line)
        if words[0] == "server" and len(words) >= 3 and current.kind in ("backend", "listen"):
            current.servers.append(_server(words, path, no))


def _server(words: list[str], path: str, no: int) -> Server:
    addr = words[2]
    host: str | None = None
    port: int | None = None
    unix: str | None = None
    if addr.startswith("unix@") or addr.startswith("/"):
        unix = addr.removeprefix("unix@")
    else:
        bare = re.sub(r"^(?:ipv4|ipv6)@", "", addr)
        if bare.startswith("["):
            inside, _, rest = bare[1:].partition("]")
            host, port = inside, int(rest[1:]) if rest[1:].isdigit() else None
        else:
            # the last colon separates the port, also for IPv6 ("::1:8080", configuration.txt 2.4)
            h, sep, p = bare.rpartition(":")
            host, port = (h, int(p)) if sep and p.isdigit() else (bare, None)
    return Server(name=words[1], address=addr, host=host, port=port, unix_path=unix,
                  params=tuple(words[3:]), file=path, line=no)


def load_haproxy(path: str, root: str | None = None) -> HaproxyConfig:
    """Read and parse ``path`` through the config bound (``parsers.configread``: a FIFO or a
    device is an ``OSError``, more than ``WHY502_MAX_CONFIG_BYTES`` an ``InputError``); an
    ``OSError`` is the caller's to report.  A directory (``haproxy -f DIR``) is its ``*.cfg``
    files in lexical order ("only files with ".cfg" extension are added", management.txt 3,
    "-f <cfgdir>").  ``root``: the root it is read under, by default the ``/proc/PID/root``
    ``path`` is read through (a container's master, ``parsers.rooted``)."""
    root = root or proc_root(path)
    path = under_root(root, path)
    budget = ConfigBudget()
    files = ([os.path.join(path, n) for n in sorted(os.listdir(path)) if n.endswith(".cfg")
              and os.path.isfile(os.path.join(path, n))] if os.path.isdir(path) else [path])
    cfg = HaproxyConfig(main_file=path, root=root)
    named: dict[str, Section] = {}
    for f in files:
        _parse_file(cfg, budget.read(under_root(root, f)), under_root(root, f), named)
    return cfg


def looks_like_haproxy(text: str) -> bool:
    """Content detection for ``--config``: HAProxy's section keywords at line starts together
    with ``server``/``bind``/``mode``/``timeout`` lines (nginx has braces, Apache ``<Tags>``).

    HAProxy's anonymous ACLs (``use_backend static if { path_beg /static/ }``) are braces too,
    but on one line and delimited by spaces (configuration.txt 7.2 "Using ACLs": "the braces
    must be delimited by spaces"); they are removed before looking for nginx's blocks, and so are
    quoted strings, where braces are log-format or environment-variable syntax
    (``log-format '%{+Q}o'``, ``"${HAPROXY_KEYLOG_FC_LOG_FMT}"``, configuration.txt 2.3, 8.2.6)."""
    starts = {m.group(1) for m in re.finditer(r"(?m)^(global|defaults|frontend|backend|listen)\b",
                                              text)}
    blocks = _ANONYMOUS_ACL.sub(" ", _QUOTED_STRING.sub(" ", _strip(text)))
    return bool(starts & {"frontend", "backend", "listen", "defaults"}) and "{" not in blocks


_QUOTED_STRING = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'")
_ANONYMOUS_ACL = re.compile(r"(?<=[\s!])\{\s[^{}\n]*\s\}(?=\s|$)", re.M)


def _strip(text: str) -> str:
    return "\n".join(ln.split("#", 1)[0] for ln in text.splitlines())
