"""An application server behind the proxy (gunicorn, uvicorn, uWSGI, Puma, Node), as read.

Why a record of its own: the deciding evidence for a reset or closed connection is often the
app server's own setting -- its keep-alive idle timeout shorter than the proxy's reuse window,
its per-request time limit shorter than the proxy's read timeout, its listen backlog -- and
the fix must name that setting in the app server's own terms (``--keep-alive``, ``harakiri``,
``persistent_timeout``, ``server.keepAliveTimeout``).  One record per app server found: where
it listens (its ``binds``, the identity that ties it to the proxy's upstream target), the
settings read (each with the file and line, or the command line, that set it) and where it
came from (a process, a systemd unit, ``--app-conf``).

The knobs and their compiled-in defaults are the programs' own (cited per knob):
gunicorn ``gunicorn/config.py`` (``Timeout`` 30, ``Keepalive`` 2, ``Backlog`` 2048); uvicorn
``uvicorn/config.py`` ``Config.__init__`` (``timeout_keep_alive=5``, ``backlog=2048``); uWSGI
``core/init.c`` (``listen_queue = 100``) and ``core/uwsgi.c`` (``harakiri``, off unless set);
Puma ``lib/puma/configuration.rb`` ``DEFAULTS`` (``worker_timeout: 60``, ``persistent_timeout``
20 in Puma 6, 65 since Puma 7); Node.js ``doc/api/http.md`` (``server.keepAliveTimeout``
5000 ms, ``server.headersTimeout`` 60000 ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from why502.facts.net import split_key
from why502.facts.setting import Setting

KINDS = ("gunicorn", "uvicorn", "uwsgi", "puma", "node")


@dataclass(frozen=True)
class Knob:
    """One setting of an app server, as its documentation names it."""

    name: str  # the config-file name (gunicorn.conf.py / uwsgi ini / puma.rb / the JS property)
    flag: str  # how the fix names it (command-line flag or config line)
    default: str | None  # the compiled-in default, in ``unit`` (None: off / unlimited)
    scale: float = 1.0  # seconds per unit (Node's timeouts are milliseconds: 0.001)
    url: str = ""


# role -> kind -> knob.  "idle": how long an idle keep-alive connection is kept open;
# "request": the per-request (or per-worker check-in) time limit that kills a worker;
# "backlog": the listen queue size.
KNOBS: Mapping[str, Mapping[str, Knob]] = {
    "idle": {
        "gunicorn": Knob("keepalive", "--keep-alive", "2",
                         url="https://docs.gunicorn.org/en/stable/settings.html#keepalive"),
        "uvicorn": Knob("timeout-keep-alive", "--timeout-keep-alive", "5",
                        url="https://www.uvicorn.org/settings/#timeouts"),
        "puma": Knob("persistent_timeout", "persistent_timeout", "20",
                     url="https://puma.io/puma/Puma/DSL.html#persistent_timeout-instance_method"),
        "node": Knob("keepAliveTimeout", "server.keepAliveTimeout", "5000", scale=0.001,
                     url="https://nodejs.org/api/http.html#serverkeepalivetimeout"),
    },
    "request": {
        "gunicorn": Knob("timeout", "--timeout", "30",
                         url="https://docs.gunicorn.org/en/stable/settings.html#timeout"),
        "uwsgi": Knob("harakiri", "harakiri", None,
                      url="https://uwsgi-docs.readthedocs.io/en/latest/Options.html#harakiri"),
        "puma": Knob("worker_timeout", "worker_timeout", "60",
                     url="https://puma.io/puma/Puma/DSL.html#worker_timeout-instance_method"),
    },
    "backlog": {
        "gunicorn": Knob("backlog", "--backlog", "2048",
                         url="https://docs.gunicorn.org/en/stable/settings.html#backlog"),
        "uvicorn": Knob("backlog", "--backlog", "2048", url="https://www.uvicorn.org/settings/"),
        "uwsgi": Knob("listen", "listen", "100",
                      url="https://uwsgi-docs.readthedocs.io/en/latest/Options.html#listen"),
    },
}


@dataclass(frozen=True)
class AppServer:
    """One app server: what it is, where it listens, what was read of its settings."""

    kind: str  # gunicorn | uvicorn | uwsgi | puma | node
    binds: tuple[str, ...] = ()  # identity keys: 127.0.0.1:8000, [::]:8000, unix:/run/app.sock
    settings: Mapping[str, Setting] = field(default_factory=dict)  # name as the server spells it
    pid: int | None = None  # the master's PID (None: read from a file or a unit, not a process)
    origin: str = ""  # "process 1234", "unit app.service", "--app-conf FILE"
    logs: tuple[str, ...] = ()  # log files its command line or config names
    started: str | None = None  # ISO local time of the master's start (/proc/<pid>/stat)

    def knob(self, role: str) -> Knob | None:
        """The knob playing ``role`` (``idle``, ``request``, ``backlog``) for this kind."""
        return KNOBS.get(role, {}).get(self.kind)

    def setting(self, role: str) -> Setting | None:
        """The value of the knob playing ``role``: as set, else its default (``is_default``);
        None when this kind has no such knob or it is off by default and not set."""
        knob = self.knob(role)
        if knob is None:
            return None
        got = self.settings.get(knob.name)
        if got is not None:
            return got
        return Setting(knob.default, is_default=True) if knob.default is not None else None

    def seconds(self, role: str) -> float | None:
        """The knob's value in seconds (None: not a plain number, off, or no such knob)."""
        knob, value = self.knob(role), self.setting(role)
        if knob is None or value is None:
            return None
        try:
            return float(value.value.replace("_", "")) * knob.scale
        except ValueError:
            return None

    def keeps_idle_connections(self) -> bool:
        """Does this server keep idle keep-alive connections at all?  gunicorn's ``sync`` worker
        answers every request with ``Connection: close`` (gunicorn/workers/sync.py; keep-alive is
        for the gthread and async workers, and ``threads > 1`` turns sync into gthread:
        gunicorn/config.py ``Config.worker_class``); uWSGI's ``http-socket`` and ``socket`` close
        too, its ``http11-socket`` keeps them (uWSGI docs, "HTTP/1.1 keepalive")."""
        if self.kind == "uwsgi":
            return "http11-socket" in self.settings
        if self.kind != "gunicorn":
            return True
        worker = self.settings.get("worker_class")
        threads = self.settings.get("threads")
        name = (worker.value if worker else "sync").strip("'\"").lower()
        many = threads is not None and threads.value.isdigit() and int(threads.value) > 1
        return not (name in ("sync", "") and not many)

    @property
    def where(self) -> str:
        """How it is named in a finding: ``gunicorn (pid 412, 127.0.0.1:8000)``."""
        bits = [f"pid {self.pid}" if self.pid else self.origin, ", ".join(self.binds[:2])]
        return f"{self.kind} ({'; '.join(b for b in bits if b)})"

    def serves(self, key: str | None) -> bool:
        """Does it listen where ``key`` (a proxy's upstream target) points?  A wildcard bind
        (``0.0.0.0``, ``::``) serves every local address on its port."""
        if not key:
            return False
        host, port, path = split_key(key)
        for bind in self.binds:
            bhost, bport, bpath = split_key(bind)
            if path is not None or bpath is not None:
                if path == bpath:
                    return True
                continue
            if bport != port:
                continue
            b = (bhost or "").strip("[]")
            h = (host or "").strip("[]")
            if b in ("", "0.0.0.0", "*", "::") or b == h or {b, h} <= {"127.0.0.1", "localhost"}:  # noqa: S104
                return True
            if {b, h} <= {"::1", "localhost"}:
                return True
        return False
