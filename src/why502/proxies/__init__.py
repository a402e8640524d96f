"""The proxies why502 reads as full proxies: ``PROXIES``, the one registry and the one detector.

Every other part of why502 learns about a proxy through this map and the :class:`~why502.
proxies.base.Proxy` it holds (``base`` says what a proxy declares).  Adding a proxy is one folder
``why502/proxies/<name>/`` with a ``proxy.py`` defining ``PROXY``, and one line here.

Which proxy a config is for: ``--proxy NAME`` when given (:func:`get` checks the name), else
:func:`detect_text` / :func:`detect_file`: every proxy scores the text with its quoted strings and
comments masked (``base.mask``), the highest score wins (ties: ``Detection.priority``), and when
no proxy recognises the file its ``include`` lines are followed (bounded) and their content
scored.  Which proxy a process is: :func:`detect_process` (``sources.proxyprocs``).

Nothing heavy is imported here: ``why502 --help`` reads the names.
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from why502.errors import InputError, UsageError
from why502.parsers import linememo as _linememo
from why502.parsers import native as _native
from why502.parsers.configread import NotAConfigFile, read_head
from why502.proxies.base import SCHEMA_1_BINARY, SCHEMA_1_CONFIG, Capability, Proxy, mask, resolve

if TYPE_CHECKING:  # its ~15 dataclasses are the analyzers' and fix's, not every command's (issue 28)
    from why502.facts.edits import Intent

FOLDERS: tuple[str, ...] = ("nginx", "apache", "haproxy", "envoy", "caddy", "traefik", "kong", "apisix",
                           "cloudflared")
"""The folders ``why502/proxies/<name>/`` of the proxies, in the order the help and the docs list
them, the first the default one: adding a proxy is its folder and its name here."""


def _declared(folder: str) -> Proxy:
    """The ``PROXY`` that ``why502.proxies.<folder>.proxy`` declares."""
    proxy = importlib.import_module(f"{__name__}.{folder}.proxy").PROXY
    if not isinstance(proxy, Proxy):
        raise TypeError(f"{__name__}.{folder}.proxy.PROXY is not a Proxy")
    return proxy


PROXIES: dict[str, Proxy] = {p.name: p for p in map(_declared, FOLDERS)}
"""Every proxy by name, in the order the help and the docs list them."""

DEFAULT = next(iter(PROXIES))
"""The proxy when nothing says which (no config named, a dump on stdin): the first folder,
nginx, as always."""

ENGINE = next(p.name for p in PROXIES.values() if p.can(Capability.ENGINE_LOGS))
"""The proxy whose logs why502's log engines read as they are (``Capability.ENGINE_LOGS``): the
``source`` of its error lines, the engines' word for a 5xx it made; other logs are read through it."""


def engine_scanner() -> ModuleType | None:
    """The native scanner of the engine's lines (``Hooks.native_scanner`` of :data:`ENGINE`), or
    None when it was not built (no C compiler at install time: the polars engine reads them)."""
    name = PROXIES[ENGINE].hooks.native_scanner
    if not name:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_native.install(engine_scanner)  # the parsers below ask it, never the registry (parsers.native)


def _line_memo() -> Callable[[], _linememo.LineMemo] | None:
    """The maker of the memo a proxy declares (``Hooks.line_memo``; the first one: one proxy's
    head shape each), or None."""
    path = next((p.hooks.line_memo for p in PROXIES.values() if p.hooks.line_memo), "")
    if not path:
        return None

    def make() -> _linememo.LineMemo:  # imported at the first memo, not with the registry
        return cast("Callable[[], _linememo.LineMemo]", resolve(path))()
    return make


_linememo.install(_line_memo())  # the parsers below ask it, never the registry (parsers.linememo)
_linememo.install_known(tuple(p.hooks.classify_known for p in PROXIES.values() if p.hooks.classify_known),
                        resolve)

#: a proxy's counter of its log's lines by group (``Hooks.classify_fold``): (block, --since's
#: cutoff) -> (summary rows (symptom, status, source, upstream, lines, first, last), the lines
#: it hands back)
ClassifyFold = Callable[[bytes, "str | None"], "tuple[list[tuple[Any, ...]], bytes]"]


@cache
def classify_folds() -> tuple[ClassifyFold, ...]:
    """Each proxy's ``Hooks.classify_fold``, resolved once: ``classify``'s summary and ``watch``'s
    error counter hand a block to each before they read its lines one by one."""
    return tuple(cast(ClassifyFold, resolve(p.hooks.classify_fold))
                 for p in PROXIES.values() if p.hooks.classify_fold)


#: a proxy's writer of ``classify --format jsonl`` records (``Hooks.classify_jsonl``): (lines, marks,
#: first line, file as JSON, --since's cutoff, year) -> (records, runs, rows handed back, their
#: text, failures) or None
ClassifyJsonl = Callable[[bytes, bytes, int, bytes, "str | None", int],
                         "tuple[bytes, bytes, bytes, bytes, int] | None"]


@cache
def classify_jsonls() -> tuple[ClassifyJsonl, ...]:
    """Each proxy's ``Hooks.classify_jsonl``, resolved once: ``classify --format jsonl`` hands
    the lines the nginx scanner hands back to each before the per-line path reads them."""
    return tuple(cast(ClassifyJsonl, resolve(p.hooks.classify_jsonl))
                 for p in PROXIES.values() if p.hooks.classify_jsonl)


HEAD_BYTES = 1 << 20  # what detection reads of a file (the first MiB)
INCLUDE_FILES = 16  # at most this many included files are read to detect a file's proxy
INCLUDE_DEPTH = 2

__all__ = ["DEFAULT", "PROXIES", "SCHEMA_1_BINARY", "SCHEMA_1_CONFIG", "Capability", "ClassifyFold",
           "ClassifyJsonl", "Proxy", "choose", "classify_folds", "classify_jsonls", "config_key",
           "detect_file", "detect_process", "detect_text", "found_on_host", "get", "installed_binary",
           "names", "of", "option_aliases", "packaged_config", "report_config", "writable_intents"]


def source_of(name: str | None = None) -> ModuleType:
    """The ``source`` plug-in module of the proxy ``name`` (the default one when None): the
    code that reads its config and its running program (``Hooks.source``), resolved by name so
    the layers above import no plug-in (``tests/proxies/test_plugins.py``)."""
    hook = of(name).hooks.source
    if not hook:
        raise UsageError(f"{of(name).vocabulary.title} has no source plug-in")
    module = resolve(hook)
    assert isinstance(module, ModuleType)
    return module


def render_edit(name: str | None, files: Mapping[str, Sequence[str]], intent: Intent) -> str | None:
    """The change ``intent`` (``facts.edits``) as a unified diff of ``files`` in the grammar of
    the proxy ``name``: its edit module (``Hooks.edits``) declares in ``RENDERERS`` the intents it
    writes; None when it writes none of this kind (the finding says the change in words) or the
    config does not have the place the intent names.  Before issue 23 the analyzers wrote nginx's
    statements into every proxy's config."""
    render = _renderers(name).get(type(intent))
    return render(files, intent) if render is not None else None


Renderer = Callable[[Mapping[str, Sequence[str]], "Intent"], "str | None"]


def _renderers(name: str | None) -> Mapping[type, Renderer]:
    hook = of(name).hooks.edits
    return cast("Mapping[type, Renderer]", getattr(resolve(hook), "RENDERERS", {})) if hook else {}


def writable_intents(name: str | None) -> frozenset[type]:
    """The kinds of change (``facts.edits`` intents) the proxy ``name`` writes as a diff: what
    its edit module declares in ``RENDERERS`` (``Hooks.edits``); none without one.  What a proxy
    cannot write is this declaration, not a branch in an analyzer: a finding whose intent is not
    in it says so in one sentence (``analyzers.base.edit``)."""
    return frozenset(_renderers(name))


def names() -> tuple[str, ...]:
    return tuple(PROXIES)


def get(name: str) -> Proxy:
    """The proxy called ``name`` (``--proxy NAME``), or a one-line ``UsageError``."""
    try:
        return PROXIES[name]
    except KeyError:
        raise UsageError(f"--proxy must be one of {', '.join(PROXIES)}, not {name!r}") from None


def of(name: str | None) -> Proxy:
    """The proxy a result names (``Evidence.proxy``, ``Finding.proxy``, a saved report's), the
    default one for a name this version does not know (a report from a newer why502)."""
    return PROXIES.get(name or DEFAULT) or PROXIES[DEFAULT]


def title(name: str | None) -> str:
    """How a report's sentences name the proxy ``name``; any other name (another program, a
    proxy of a newer why502) as it is."""
    proxy = PROXIES.get(name) if name else None
    return proxy.vocabulary.title if proxy else (name or "")


def long_title(name: str | None) -> str:
    """How a heading names the proxy ``name`` ("Apache httpd"); any other name as it is."""
    proxy = PROXIES.get(name) if name else None
    return proxy.vocabulary.long_title if proxy else (name or "")


def _scores(text: str) -> dict[str, int]:
    masked = {True: mask(text), False: mask(text, hash_comments_anywhere=False)}
    # Apache's comments start a line only; nginx's and HAProxy's anywhere outside quotes
    return {p.name: p.detect(text, masked[p.detection.hash_comments_anywhere]) for p in PROXIES.values()}


def _best(scores: dict[str, int]) -> str | None:
    name = max(scores, key=lambda n: (scores[n], PROXIES[n].detection.priority))
    return name if scores[name] > 0 else None


def detect_text(text: str) -> str | None:
    """The proxy whose config ``text`` is (its name), or None when no proxy recognises it."""
    return _best(_scores(text))


def _read_head(path: str) -> str:
    """The first MiB of a config file; a FIFO or a device is never opened (``NotAConfigFile``,
    an ``OSError``): nginx's reader reads a FIFO once, with bounds (``parsers.configread``)."""
    return read_head(path, HEAD_BYTES)


def _included(path: str, text: str) -> list[str]:
    """The files ``text``'s include lines name (any proxy's include grammar, quoted or not),
    relative paths against the file's directory, globs expanded, regular files only."""
    base = os.path.dirname(os.path.abspath(path))
    out: list[str] = []
    for proxy in PROXIES.values():
        rx = proxy.detection.include
        if rx is None:
            continue
        for m in rx.finditer(text):  # anchored at a line's start: a commented include is not one
            pattern = m.group(1).strip("\"'")
            full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
            for found in sorted(glob.glob(full)) if glob.has_magic(full) else [full]:
                if os.path.isfile(found) and found not in out:
                    out.append(found)
    return out


DEFAULT_FLAG = PROXIES[DEFAULT].vocabulary.config_flag
"""The flag (an alias kept by every command) that names the default proxy's config only: its own
older name of ``--config`` (``Vocabulary.config_flag``)."""

def config_key(name: str | None) -> str:
    """The key of a report's ``inputs`` that names the proxy ``name``'s main config:
    :data:`SCHEMA_1_CONFIG` for the default proxy (schema 1.0), ``config`` for any other."""
    return SCHEMA_1_CONFIG if (name or DEFAULT) == DEFAULT else "config"


def report_config(inputs: Mapping[str, object]) -> object:
    """The main config a report's ``inputs`` name, whichever proxy's (``config`` first)."""
    return inputs.get("config") or inputs.get(SCHEMA_1_CONFIG)


def option_aliases(field: str) -> tuple[str, ...]:
    """Every proxy's own older name of a neutral option (``Vocabulary.config_flag``,
    ``binary_flag``): kept by the commands as aliases, declared by the proxies, not spelled in
    ``cli``."""
    return tuple(dict.fromkeys(v for p in PROXIES.values() if (v := getattr(p.vocabulary, field))))


def choose(proxy: str | None, config: str | None, flag: str = "--config",
           fallback: str | None = None) -> str:
    """The proxy a command is about, the one check every way a config reaches a command goes
    through (``--config``, ``--nginx-conf``, lint's NGINX_CONF, ``fix --lint FILE``): ``--proxy
    NAME`` when given (checked), else the default one for no file or a dump on stdin, else the
    proxy of the ``config`` file (:func:`detect_file`).  ``flag`` is how the user named the file
    (for the message); ``--nginx-conf`` names the default proxy's config only, so another kind's
    there is a one-line ``InputError`` naming ``--config`` (:func:`check_not_foreign`).  A
    config of a proxy why502 does not read (a Caddyfile) is always a one-line ``InputError``
    naming what it is and the flags to use, ``fallback`` or not (issue 31)."""
    if proxy is not None:
        return get(proxy).name
    if config is None or config == "-":
        return DEFAULT
    if flag == DEFAULT_FLAG:
        check_not_foreign(config, flag)
        return DEFAULT
    return detect_file(config, fallback=fallback, flag=flag)


def detect_file(path: str, fallback: str | None = None, flag: str = "--config") -> str:
    """The proxy a ``--config`` file is for: the file's first MiB, then, when that says nothing,
    the files it includes (at most ``INCLUDE_FILES``, two levels).  A file that cannot be read or
    that no proxy recognises is a one-line ``InputError``, or ``fallback`` when one is given (the
    positional NGINX_CONF of ``lint``, whose loader then says what is wrong with it); a config of
    a proxy outside ``PROXIES`` (:func:`foreign_kind`) is an ``InputError`` even then."""
    try:
        text = _read_head(path)
    except OSError as err:
        if fallback is not None:
            return fallback
        hint = ""
        if isinstance(err, NotAConfigFile) and "FIFO" in str(err.strerror):
            hint = f"; an {DEFAULT} config or {DEFAULT} -T dump is read from a FIFO with --proxy {DEFAULT}"
        raise InputError(f"cannot read {path} ({flag}): {err.strerror or err}{hint}") from None
    found = detect_text(text)
    todo, seen, depth = _included(path, text), {os.path.abspath(path)}, 1
    total: dict[str, int] = {}
    while found is None and todo and depth <= INCLUDE_DEPTH:
        nxt: list[str] = []
        for inc in todo:
            if inc in seen or len(seen) > INCLUDE_FILES:
                continue
            seen.add(inc)
            try:
                inc_text = _read_head(inc)
            except OSError:
                continue
            for name, score in _scores(inc_text).items():
                total[name] = total.get(name, 0) + score
            nxt += _included(inc, inc_text)
        found = _best(total) if total else None
        todo, depth = nxt, depth + 1
    if found is None and (foreign := foreign_kind(text)) is not None:
        raise InputError(f"{path} ({flag}): {FOREIGN_HINT[foreign]}")
    if found is None and fallback is not None:
        return fallback
    if found is None:
        titles = [p.vocabulary.title for p in PROXIES.values()]
        raise InputError(f"{path}: not a config of {', '.join(titles[:-1])} or {titles[-1]} that why502 "
                         f"recognises (pass --proxy {'|'.join(PROXIES)} to say which)")
    return found


# Configs of proxies whose LOGS only why502 reads (``parsers.lblogs``) would be recognised here so
# that one is never read as an nginx config (issue 31: a Caddyfile given as --config was
# "healthy"); Caddy is in PROXIES now, and no other such config is recognised yet.
FOREIGN_HINT: dict[str, str] = {}


def foreign_kind(text: str) -> str | None:
    """The proxy outside ``PROXIES`` whose config ``text`` is, or None (none is known now)."""
    return None


def check_not_foreign(path: str, flag: str) -> None:
    """A one-line ``InputError`` when ``path`` (named with ``flag``) is a config of a proxy that
    is not ``flag``'s: another kind of ``PROXIES`` (named by :func:`detect_text`, pointing to
    ``--config``), or a foreign one (:data:`FOREIGN_HINT`).  A file that cannot be read says
    nothing here: its reader reports it."""
    try:
        text = _read_head(path)
    except OSError:
        return
    foreign = foreign_kind(text)
    if foreign is not None and not _scores(text).get(DEFAULT):
        raise InputError(f"{path} ({flag}): {FOREIGN_HINT[foreign]}")
    if flag != "--config":
        scores = _scores(text)
        other = _best(scores)
        if other is not None and other != DEFAULT and not scores.get(DEFAULT):
            raise InputError(f"{path} ({flag}): this is a{'n' if other[0] in 'aeiouh' else ''} "
                             f"{PROXIES[other].vocabulary.title} config, not {DEFAULT}'s: pass it as "
                             f"--config {path}")


def detect_process(comm: str, argv: list[str]) -> str | None:
    """The proxy a process runs (``/proc/PID/comm`` and its argv), or None."""
    head = argv[0] if argv and argv[0] else ""
    for proxy in PROXIES.values():
        prefix = proxy.detection.title_prefix
        if prefix and head.startswith(prefix):
            return proxy.name
    name = os.path.basename(head.split()[0]) if head else comm
    for candidate in (name, comm):
        for proxy in PROXIES.values():
            if candidate in proxy.detection.programs:
                return proxy.name
    return None


# Proxies why502 does not read as full proxies yet, whose processes are still proxies, not
# backends (a listener of theirs is never "the backend that moved"; issue 24 makes them PROXIES).
EDGE_PROGRAMS: frozenset[str] = frozenset({"envoy", "traefik"})


def proxy_programs() -> frozenset[str]:
    """The executable names of every proxy: those of ``PROXIES`` and ``EDGE_PROGRAMS``."""
    return frozenset(name for proxy in PROXIES.values() for name in proxy.detection.programs) | EDGE_PROGRAMS


def installed_binary(name: str | None = None) -> str | None:
    """The executable of the proxy ``name`` (the default one when None) installed on this host:
    one of its ``Detection.programs`` on PATH, else the first of its ``Detection.sbin`` paths
    that is executable (``/usr/sbin`` is not on a user's PATH); None when there is none."""
    detection = of(name).detection
    for program in detection.programs:
        if found := shutil.which(program):
            return found
    return next((path for path in detection.sbin if os.access(path, os.X_OK)), None)


def packaged_config(name: str | None = None) -> str | None:
    """The first config path the proxy's packages install (``Detection.packaged_configs``, else
    its vocabulary's ``default_config``) that exists on this host, else None."""
    proxy = of(name)
    paths = proxy.detection.packaged_configs or (proxy.vocabulary.default_config,)
    return next((path for path in paths if path.startswith("/") and os.path.exists(path)), None)


def found_on_host(name: str) -> tuple[str | None, str | None]:
    """How the proxy ``name`` is found on this host when nothing names it, asked of every
    proxy the same way from what it declares (``Detection``: its program names on PATH, its
    ``sbin`` paths, its packaged configs): ``(binary, packaged config)``, each None when absent
    (issue 23: before, discovery asked nginx's own source module and the others' config only)."""
    return installed_binary(name), packaged_config(name)
