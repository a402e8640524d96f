"""Read nginx config files and ``nginx -T`` dumps into the directive tree, following includes.

Parsing uses crossplane (``crossplane.parse(..., single=True)``) one file at a time (imported
when a file is parsed, so ``why502 --help`` never loads it; its lexer is fed whole runs of
characters by :mod:`why502.proxies.nginx.config.lexfeed`), and each file once however often it is
included (``include proxy_params;`` in every location); ``include`` is followed here, not
by crossplane, so the same code serves real files and ``nginx -T`` dumps (where the files exist
only inside the dump).  Relative include paths resolve against the directory of the main file,
which is nginx's conf prefix (``ngx_conf_full_name(cycle, name, 1)`` in
``src/core/ngx_conf_file.c`` ``ngx_conf_include()``); glob patterns match in sorted order and
may match nothing (``NGX_CONF_GLOB`` case), an explicit missing file is an error.

Pure: it reads the files it is given (crossplane needs paths; a dump's files are written to a
temporary directory for it) and nothing else.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from why502.errors import not_found
from why502.parsers.configread import (
    MAX_CONFIG_BYTES,
    MEMORY_PER_CONFIG_BYTE,
    ConfigBudget,
    config_file_problem,
    max_config_bytes,
    mib,
    over_bound,
)
from why502.parsers.rooted import proc_root, within_root
from why502.proxies.nginx.config.assemble import build_model
from why502.proxies.nginx.config.lexfeed import GIVEN, decode, install
from why502.proxies.nginx.config.model import NginxConfig, ParseProblem
from why502.proxies.nginx.config.tree import Directive

# The bound and its message are the one reader's of every config family (parsers.configread);
# re-exported here, where nginx's callers found them first.
__all__ = ["MAX_CONFIG_BYTES", "MEMORY_PER_CONFIG_BYTE", "config_file_problem", "max_config_bytes", "mib",
           "over_bound"]

DUMP_MARKER = re.compile(r"^# configuration file (.+):\s*$", re.MULTILINE)
"""``nginx -T`` writes ``# configuration file PATH:`` before each file it read
(``src/core/nginx.c`` ``ngx_show_configure``/dump loop)."""


def split_dump(text: str) -> list[tuple[str, str]]:
    """Split ``nginx -T`` output into ``(path, text)`` pieces, in dump order (main file first).

    Text before the first marker (``nginx: the configuration file ... syntax is ok``) is dropped.
    The blank line nginx writes after each file is kept, which does not change line numbers.
    """
    matches = list(DUMP_MARKER.finditer(text))
    pieces: list[tuple[str, str]] = []
    for i, m in enumerate(matches):
        start = m.end() + 1  # skip the newline after the marker
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        pieces.append((m.group(1).strip(), text[start:end]))
    return pieces


def is_dump(text: str) -> bool:
    return DUMP_MARKER.search(text) is not None


class _FileSet:
    """Where included files come from: the real file system, or the files of a dump."""

    def __init__(self, virtual: dict[str, str] | None) -> None:
        self.virtual = virtual

    def expand(self, pattern: str) -> tuple[list[str], bool]:
        """Files an include pattern names, and whether it is a glob."""
        magic = glob.has_magic(pattern)
        if self.virtual is not None:
            if magic:
                return sorted(p for p in self.virtual if fnmatch.fnmatchcase(p, pattern)
                              and "/" not in p[len(os.path.dirname(pattern)) + 1:]), True
            return ([pattern] if pattern in self.virtual else []), False
        if magic:
            return sorted(glob.glob(pattern)), True
        return [pattern], False


def _not_a_config_error(err: BaseException) -> None:
    """crossplane's ``onerror``: it records any exception of its parse as a config error, and a
    ``MemoryError`` (whose text is empty) would read as "unexpected end of file" -- a claim about
    a file that is fine.  Out of memory is said as such (``cli.main``)."""
    if isinstance(err, MemoryError):
        raise err


def _crossplane_parse(path: str, display: str, problems: list[ParseProblem],
                      data: bytes | None = None) -> list[dict[str, Any]]:
    """crossplane's parse of the one file ``path``; ``data``: its bytes, already read (its lexer
    then does not open it again, ``lexfeed.GIVEN``)."""
    crossplane = install()
    if data is not None:
        GIVEN[path] = data
    try:
        payload = crossplane.parse(path, single=True, catch_errors=True, check_ctx=False,
                                   check_args=True, comments=False, onerror=_not_a_config_error)
    except MemoryError:
        raise
    except Exception as err:
        problems.append(ParseProblem("error", f"cannot parse: {err}", display, getattr(err, "lineno", None)))
        return []
    finally:
        GIVEN.pop(path, None)
    out: list[dict[str, Any]] = []
    for entry in payload.get("config", []):
        for e in entry.get("errors", []):
            msg = str(e.get("error", "")).replace(path, display)
            if not msg.strip():  # crossplane reports a bare end of input as an empty error
                msg = 'unexpected end of file (a statement without ";" or a block without "}")'
            problems.append(ParseProblem("error", msg, display, e.get("line")))
        out = entry.get("parsed", [])
        entry["parsed"] = []
    # crossplane's parse() keeps its payload in a closure that refers to itself (its nested
    # ``_parse`` is recursive), so the payload lives until the cycle collector runs -- never in
    # the commands that turn it off (cli.main.GC_OFF): a 4 MiB config's statements held ~60 MB
    # to the end of the run.  Emptied here, they go when the caller drops them.
    payload["config"].clear()
    return out


class _Loader:
    def __init__(self, prefix: str, files: _FileSet, realpaths: dict[str, str],
                 root: str | None = None, aliases: dict[str, str] | None = None,
                 host_paths: bool = True) -> None:
        self.prefix = prefix
        self.root = root
        self.host_paths = host_paths
        self.aliases = aliases or {}
        self.files = files
        self.realpaths = realpaths  # display path -> path on disk (temp copies for dumps)
        self.problems: list[ParseProblem] = []
        self.read: list[str] = []
        self.stack: list[str] = []
        self.budget = ConfigBudget()  # the text read so far, against max_config_bytes()
        # a file included many times (``include proxy_params;`` in every location) is parsed and
        # converted once: (path on disk, display path) -> its directives.  crossplane's own
        # statements are not kept (they were ~17 % of diagnose's Python memory on 5000 servers),
        # except for a file whose conversion met an include loop: what it includes then depends
        # on the path it was reached by, so it is converted again each time.
        self.converted: dict[tuple[str, str], tuple[Directive, ...]] = {}
        self.parsed: dict[str, list[dict[str, Any]]] = {}
        self.loops = 0  # include loops found so far
        # each file on disk is opened once (issue 23 item 3): its bytes are read where its
        # readability was checked, handed to the lexer, and its text kept for ``file_text``
        self.data: dict[str, bytes] = {}  # path on disk -> bytes read, not yet parsed
        self.texts: dict[str, str] = {}  # display path (= path on disk) -> its text

    def load(self, display: str) -> tuple[Directive, ...]:
        if display in self.stack:
            self.problems.append(ParseProblem("error", f"include loop on {display}", display))
            self.loops += 1
            return ()
        real = self.realpaths.get(display, display)
        if self.files.virtual is None:
            # not a regular file or unreadable: an error line of the config, as nginx says it;
            # past the bound of the whole config: InputError (exit 3), from the budget
            try:
                size = self.budget.admit(real)
            except OSError as err:
                return self._unreadable(display, err)
            if real not in self.data and (real, display) not in self.converted and real not in self.parsed:
                try:
                    with open(real, "rb") as fh:
                        self.data[real] = fh.read()
                except OSError as err:
                    self.budget.used -= size
                    return self._unreadable(display, err)
        if display not in self.read:
            self.read.append(display)
        self.stack.append(display)
        try:
            done = self.converted.get((real, display))
            if done is not None:
                return done
            raw = self.parsed.pop(real, None)
            if raw is None:  # its parse problems are said once, on its first include
                data = self.data.pop(real, None)
                if data is not None and real == display and display not in self.texts:
                    self.texts[display] = decode(data, "surrogateescape")
                raw = _crossplane_parse(real, display, self.problems, data)
            loops = self.loops
            done = self.convert(raw, display)
            if self.loops == loops:
                self.converted[(real, display)] = done
            else:
                self.parsed[real] = raw
            return done
        finally:
            self.stack.pop()

    def _unreadable(self, display: str, err: OSError) -> tuple[Directive, ...]:
        # the file is there and cannot be read: lint says the check is INCOMPLETE (exit 3)
        self.problems.append(ParseProblem("error", f"cannot read {display}: {err.strerror or err}", display,
                                          unread=True))
        return ()

    def convert(self, raw: list[dict[str, Any]], display: str) -> tuple[Directive, ...]:
        out: list[Directive] = []
        for stmt in raw:
            name = str(stmt.get("directive", ""))
            args = tuple(map(str, stmt.get("args", ())))
            line = int(stmt.get("line", 0))
            if name == "include" and args:
                out.extend(self.include(args[0], display, line))
                continue
            block = None
            if "block" in stmt:
                block = self.convert(stmt["block"], display)
            out.append(Directive(name, args, display, line, block))
        return tuple(out)

    def include(self, pattern: str, display: str, line: int) -> list[Directive]:
        alias = next((a for a in self.aliases if pattern.startswith(a.rstrip("/") + "/")), None)
        if os.path.isabs(pattern) and alias is not None:
            full = os.path.normpath(os.path.join(self.aliases[alias], pattern[len(alias.rstrip("/")) + 1:]))
        elif os.path.isabs(pattern) and self.root is None and not self.host_paths:
            # the file is on the machine the config is for, not necessarily this one: read
            # nothing of this machine's (a copied config must not be judged by what /etc/nginx
            # here holds); said by name, so the reader knows what was not seen.  The message
            # starts with "include " like every unread include (proxies.nginx.lint.config.unreadable_include).
            self.problems.append(ParseProblem(
                "warning", f'include "{pattern}" not read: an absolute path names a file of the '
                "machine the config is for (--root DIR reads it under a copied tree, --host from "
                "this machine)", display, line))
            return []
        elif os.path.isabs(pattern):
            full = os.path.normpath(self.root + pattern) if self.root else pattern
        else:
            full = os.path.normpath(os.path.join(self.prefix, pattern))
        names, magic = self.files.expand(full)
        if not names and not magic:
            self.problems.append(ParseProblem(
                "error", f'include "{pattern}" not found ({full})', display, line))
            return []
        out: list[Directive] = []
        for name in names:
            if self.root and self.files.virtual is None:
                real = within_root(self.root, name)
                if real != name:  # a link inside the tree, followed inside it (displayed as named)
                    self.realpaths[name] = real
                    if os.path.isdir(real):
                        continue
                    if not os.path.exists(real):
                        self.problems.append(ParseProblem(
                            "error", f'include "{pattern}": {not_found(real)}', display, line,
                            unread=True))
                        continue
                    out.extend(self.load(name))
                    continue
            if self.files.virtual is None and os.path.isdir(name):
                continue
            if self.files.virtual is None and not os.path.exists(name):
                # a link that is there but leads nowhere (a loop, a broken link) was not read
                self.problems.append(ParseProblem(
                    "error", f'include "{pattern}": {not_found(name)}', display, line,
                    unread=os.path.lexists(name)))
                continue
            out.extend(self.load(name))
        return out


def parse_nginx(path_or_dump: str | os.PathLike[str], *, text: str | None = None,
                root: str | None = None, aliases: dict[str, str] | None = None,
                host_paths: bool = True) -> NginxConfig:
    """Parse a config file (following includes), or an ``nginx -T`` dump.

    ``path_or_dump`` is a file path; when its text (or ``text``, for stdin) carries the dump
    markers it is read as a dump.  ``root`` makes absolute include paths resolve under that
    directory (a config tree copied from another machine, like the test corpus; by default the
    ``/proc/PID/root`` the path is read through, ``parsers.rooted.proc_root``); ``aliases``
    maps absolute prefixes to directories (``{"/etc/nginx": "./copy"}``) first.  ``host_paths=False``
    (and no ``root``) reads no absolute include at all: each is a problem naming it.  Unreadable
    files raise ``OSError`` only for the main file;
    everything else becomes a ``ParseProblem`` in ``config.problems``.
    """
    path = os.fspath(path_or_dump)
    if text is None and (why := config_file_problem(path)):
        raise ValueError(why)
    data: bytes | None = None
    if text is None:
        with open(path, "rb") as fh:  # read once: its bytes are the loader's (not opened again)
            data = fh.read()
        if is_dump(data[:1 << 16].decode("utf-8", errors="replace")):
            text = decode(data, "surrogateescape")
    if text is not None and is_dump(text):
        return parse_dump(text, source=path)
    if text is not None:
        return _parse_texts({path: text}, path, source="file")
    main = os.path.abspath(path)
    # a config read through a process's root (a container's master): its includes are there
    root = root if root is not None else proc_root(main)
    loader = _Loader(os.path.dirname(main), _FileSet(None), {},
                       os.path.abspath(root) if root else None,
                       {k: os.path.abspath(v) for k, v in (aliases or {}).items()}, host_paths)
    if data is not None:
        loader.data[main] = data
    directives = loader.load(main)
    if not loader.read:
        raise OSError(f"cannot read {main}")
    cfg = build_model(main, directives, loader.read, loader.problems, "file", {})
    cfg.keep_texts(loader.texts)
    return cfg


def parse_dump(text: str, source: str = "nginx -T") -> NginxConfig:
    """Parse ``nginx -T`` output: each ``# configuration file PATH:`` piece is one file."""
    pieces = split_dump(text)
    if not pieces:
        raise ValueError("not an nginx -T dump: no '# configuration file' marker")
    files: dict[str, str] = {}
    for p, t in pieces:
        files.setdefault(p, t)
    return _parse_texts(files, pieces[0][0], source=source if source else "dump")


def _parse_texts(files: dict[str, str], main: str, source: str) -> NginxConfig:
    with tempfile.TemporaryDirectory(prefix="why502-conf-") as tmp:
        realpaths: dict[str, str] = {}
        for i, (p, t) in enumerate(files.items()):
            real = os.path.join(tmp, f"{i}.conf")
            with open(real, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(t)
            realpaths[p] = real
        loader = _Loader(os.path.dirname(main), _FileSet(files), realpaths)
        directives = loader.load(main)
        read = list(loader.read)
        for p in files:  # files in the dump that no include reached (nginx dumps only what it read)
            if p not in read:
                read.append(p)
        return build_model(main, directives, read, loader.problems, source, dict(files))



@dataclass(frozen=True)
class ConfigTree:
    """One config copied from another machine and how to read it without touching this
    machine's ``/etc/nginx``: ``parse_nginx(main, root=root, aliases=aliases)``."""

    name: str
    main: Path
    root: str
    aliases: dict[str, str]


def config_trees(folder: Path) -> list[ConfigTree]:
    """Each entry of a folder of copied configs (one file, or one tree per entry).

    A tree laid out as installed (``etc/``, ``config/`` subfolders) is the file-system root; any
    other tree stands for ``/etc/nginx`` (its ``conf.d/`` answers ``include
    /etc/nginx/conf.d/*.conf``).  Absolute includes never reach the real ``/etc``: a single file's
    absolute includes resolve under a root that does not exist, so results do not depend on the
    machine reading them.  A tree's main file is its shallowest ``nginx.conf``.
    """
    nowhere = str(folder / ".no-such-root")
    out: list[ConfigTree] = []
    for entry in sorted(folder.iterdir()):
        if entry.name == "README.md" or entry.name.startswith("."):
            continue
        if entry.is_dir():
            mains = sorted(entry.rglob("nginx.conf"), key=lambda p: (len(p.parts), str(p)))
            mains = mains or sorted(entry.rglob("*.conf"))
            if not mains:
                continue
            if (entry / "etc").is_dir() or (entry / "config").is_dir():
                out.append(ConfigTree(entry.name, mains[0], str(entry), {}))
            else:
                out.append(ConfigTree(entry.name, mains[0], nowhere, {"/etc/nginx": str(entry)}))
        else:
            out.append(ConfigTree(entry.name, entry, nowhere, {}))
    return out
