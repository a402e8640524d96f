"""Pure parsing of PHP-FPM configuration (``php-fpm.conf`` and pool files).

Why: half of the PHP 502/504s are explained by a pool's settings — ``listen`` (where nginx must
point), ``listen.owner/group/mode`` (who may connect), ``pm.max_children`` (how many requests run
at once), ``request_terminate_timeout`` (who kills a slow script first).  Each value keeps its
``file:line`` so a finding can cite it and a fix can patch it.

Behaviour follows php-src ``sapi/fpm/fpm/fpm_conf.c``:

- the file is read line by line, each line parsed by the Zend INI scanner in normal mode
  (``fpm_conf_load_ini_file()``): ``[section]``, ``key = value``, ``key[sub] = value`` (``php_value``,
  ``php_admin_value``, ``env``...), ``;`` comments, ``"quoted"`` values, ``yes/on/true`` → ``1`` and
  ``no/off/false/none`` → empty (booleans);
- ``[global]`` (any case) switches to the global section, any other name opens (or re-opens, case
  insensitively) a pool (``fpm_conf_ini_parser_section()``); keys are matched case-insensitively;
- ``include = GLOB`` is expanded where it appears, up to 5 levels deep; an included file inherits
  the current section (``fpm_conf_ini_parser_include()``) — the expansion itself is I/O and lives
  in ``why502.sources.fpm``;
- ``$pool`` in a string value becomes the pool name (``fpm_conf_expand_pool_name()`` from
  ``fpm_conf_set_string()``);
- times accept ``s``/``m``/``h``/``d`` suffixes (``fpm_conf_set_time()``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from why502.facts.fpm import FpmPool
from why502.facts.setting import Setting

_TRUE = {"yes", "on", "true"}
_FALSE = {"no", "off", "false", "none"}


@dataclass(frozen=True)
class FpmLine:
    """One meaningful line: a section header, an entry, or an include."""

    kind: str  # "section" | "entry" | "include" | "error"
    name: str  # section name, key ("pm.max_children", "php_admin_value"), or error text
    value: str = ""
    subkey: str | None = None  # "memory_limit" in php_admin_value[memory_limit]
    file: str = ""
    line: int = 0


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*(?:;.*)?$")
_ENTRY = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?\s*=\s*(.*)$")


def parse_ini_value(raw: str) -> str:
    """The value as FPM receives it: comment stripped, quotes removed, booleans as ``1``/``""``.

    As the Zend INI scanner reads it (zend_ini_scanner.l, normal mode; checked with php-fpm
    8.2, tests/fixtures/fpm-access/README.md): inside double quotes ``\\"`` and ``\\\\`` are
    unescaped (``zend_ini_escape_string()``), and a value made of quoted and unquoted pieces is
    their concatenation with each unquoted piece trimmed (``access.format = %R %t "%m %r" %s``
    is ``%R %t%m %r%s``)."""
    text = raw.strip()
    pieces: list[tuple[bool, str]] = []  # (quoted, text)
    plain: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            pieces.append((False, "".join(plain)))
            plain = []
            quoted: list[str] = []
            j = i + 1
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text) and text[j + 1] in '"\\':
                    j += 1
                quoted.append(text[j])
                j += 1
            pieces.append((True, "".join(quoted)))
            i = j + 1
            continue
        if ch == ";":
            break
        plain.append(ch)
        i += 1
    pieces.append((False, "".join(plain)))
    if not any(q for q, _ in pieces):
        value = pieces[-1][1].strip()
        low = value.lower()
        if low in _TRUE:
            return "1"
        if low in _FALSE:
            return ""
        return value
    return "".join(t if q else t.strip() for q, t in pieces)


def parse_fpm_text(text: str, file: str = "<fpm>") -> list[FpmLine]:
    """Turn one file's text into ``FpmLine`` records (includes are not expanded here)."""
    out: list[FpmLine] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(";") or stripped.startswith("#"):
            continue
        m = _SECTION.match(raw)
        if m:
            out.append(FpmLine("section", m.group(1).strip(), file=file, line=number))
            continue
        m = _ENTRY.match(raw)
        if m:
            key = m.group(1)
            value = parse_ini_value(m.group(3))
            if key.lower() == "include":
                out.append(FpmLine("include", key, value, file=file, line=number))
            else:
                out.append(FpmLine("entry", key.lower(), value, m.group(2), file=file, line=number))
            continue
        out.append(FpmLine("error", f"cannot parse line: {stripped[:80]}", file=file, line=number))
    return out


def parse_fpm_time(value: str | None) -> int | None:
    """``"30s"``/``"5m"``/``"1h"``/``"2d"``/``"30"`` -> seconds; ``None`` when unset or invalid."""
    if value is None:
        return None
    v = value.strip()
    if not v:
        return None
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(v[-1].lower())
    digits = v[:-1] if mult else v
    if not re.fullmatch(r"-?\d+", digits):
        return None
    return int(digits) * (mult or 1)


def _int(value: str | None) -> int | None:
    if value is None or not re.fullmatch(r"-?\d+", value.strip()):
        return None
    return int(value.strip())


@dataclass
class FpmConfigModel:
    """Global settings, pools, and problems found while assembling them."""

    global_settings: dict[str, Setting] = field(default_factory=dict)
    pools: list[FpmPool] = field(default_factory=list)
    errors: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, message)


def build_config(lines: Iterable[FpmLine], error_log: str | None = None) -> FpmConfigModel:
    """Assemble ``FpmLine`` records (includes already expanded, in order) into pools.

    ``error_log`` is the resolved global error log path (see ``resolve_fpm_path``), copied into
    each pool for convenience; the raw setting stays in ``global_settings["error_log"]``.
    """
    model = FpmConfigModel()
    order: list[str] = []
    pools: dict[str, dict[str, Setting]] = {}
    php: dict[str, dict[str, Setting]] = {}
    starts: dict[str, tuple[str, int]] = {}
    names: dict[str, str] = {}
    current: str | None = None
    for ln in lines:
        if ln.kind == "error":
            model.errors.append((ln.file, ln.line, ln.name))
        elif ln.kind == "section":
            low = ln.name.lower()
            if low == "global":
                current = None
                continue
            if low not in pools:
                pools[low] = {}
                php[low] = {}
                starts[low] = (ln.file, ln.line)
                names[low] = ln.name
                order.append(low)
            current = low
        elif ln.kind == "entry":
            if current is None:
                if ln.subkey is not None:
                    model.errors.append((ln.file, ln.line, "arrays are not allowed in the global section"))
                    continue
                model.global_settings[ln.name] = Setting(ln.value, ln.file, ln.line)
                continue
            value = ln.value.replace("$pool", names[current])
            if ln.subkey is not None:
                php[current][f"{ln.name}[{ln.subkey}]"] = Setting(value, ln.file, ln.line)
            else:
                pools[current][ln.name] = Setting(value, ln.file, ln.line)
    for key in order:
        s = pools[key]

        def get(name: str, s: dict[str, Setting] = s) -> str | None:
            return s[name].value if name in s else None

        values = php[key]
        mem = values.get("php_admin_value[memory_limit]") or values.get("php_value[memory_limit]")
        file, line = starts[key]
        model.pools.append(
            FpmPool(
                name=names[key],
                file=file,
                line=line,
                listen=get("listen"),
                listen_owner=get("listen.owner") or None,  # "listen.owner =": FPM's default
                listen_group=get("listen.group") or None,
                listen_mode=get("listen.mode"),
                listen_backlog=_int(get("listen.backlog")),
                pm=(get("pm") or "").lower() or None,
                max_children=_int(get("pm.max_children")),
                start_servers=_int(get("pm.start_servers")),
                min_spare_servers=_int(get("pm.min_spare_servers")),
                max_spare_servers=_int(get("pm.max_spare_servers")),
                max_requests=_int(get("pm.max_requests")),
                request_terminate_timeout=parse_fpm_time(get("request_terminate_timeout")),
                request_slowlog_timeout=parse_fpm_time(get("request_slowlog_timeout")),
                slowlog=get("slowlog"),
                user=get("user"),
                group=get("group"),
                catch_workers_output=get("catch_workers_output") == "1",
                memory_limit=mem.value if mem else None,
                error_log=error_log,
                access_log=get("access.log"),
                access_format=get("access.format"),
                prefix=get("prefix"),
                status_path=get("pm.status_path"),
                settings=dict(s),
                php_values=dict(values),
            )
        )
    return model


def resolve_fpm_path(path: str, prefix: str | None, default_prefix: str) -> str:
    """Make a relative FPM path absolute like ``fpm_evaluate_full_path()``.

    The ``-p``/``--prefix`` option wins, else ``default_prefix`` (``PHP_LOCALSTATEDIR``, ``/var`` on
    Debian, for ``error_log``/``slowlog``/``pid``; ``PHP_PREFIX``, ``/usr``, for ``include``).
    ``syslog`` is returned unchanged.  A leading ``$prefix`` is replaced by the prefix.
    """
    if path == "syslog" or path.startswith("/"):
        return path
    base = (prefix or default_prefix).rstrip("/")
    if path.startswith("$prefix"):
        return base + path[len("$prefix") :]
    return f"{base}/{path}"
