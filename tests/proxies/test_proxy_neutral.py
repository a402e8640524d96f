"""No proxy named as an identifier outside ``why502/proxies/`` and ``why502/lab/`` (issue 23).

The rule, checked on the syntax tree of every module of ``src/why502`` except ``proxies/`` (where
each proxy lives) and ``lab/`` (which starts the real programs): a **string constant whose whole
value is a registered proxy's name** (``"nginx"``, ``"apache"``, ``"haproxy"``: the keys of
``why502.proxies.PROXIES``) is a proxy used as an identifier -- a comparison ``ev.proxy ==
"haproxy"``, a dict keyed by proxy, a default ``proxy="nginx"``.  Such code must ask the registry
instead (``proxies.of(name).vocabulary``, ``.can(Capability...)``, ``proxies.DEFAULT``).

What the rule allows, and why:

- prose: docstrings, comments, help text and messages that *mention* a proxy in a sentence
  ("nginx's worker user", "HAProxy logs through syslog") are not identifiers -- a string that is
  more than the bare name is not counted;
- data files: ``catalog/data/*.toml`` (lint rules' ``proxy = "haproxy"``, patterns' ``source``) is
  knowledge as data, read through the catalog; it is not Python and not scanned.

At zero since the plug-in moves of issue 23 (h/oncall3, h/fixplug, h/edgeplug, h/diagplug,
h/logplug, h/lintplug): each proxy's lint rules, fix service, diagnose view, config facts, source
reader and log family live in ``proxies/<name>/`` and are reached through its ``Hooks``; the
classify engines' families and the catalog's own lists are data (``catalog/data/*.toml``).
``MAX_FILES`` is the ratchet's history; it is 0 and stays 0.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import why502
from why502.proxies import PROXIES

SRC = Path(why502.__file__).parent
EXEMPT = ("proxies/", "lab/")

MAX_FILES = 0  # by the same rule: 49 on main at bf344d5, 53 at e58392f (app/mitigate came with 2)
# 42 -> 48 when Envoy joined the registry (h/envoy), with no new branch: the literal "envoy" that
# already named the *log family* of parsers.lblogs (lblogs/__init__, batch, envoy; evidence.
# lbstats; catalog.terms; app.watch.engine) now names a registered proxy; they go when the
# edge-log path reads its families through the registry (issue 23 item 2, the LB path's move).
# 48 -> 49: Envoy's lint checks (analyzers/lint/checks/envoy.py, @rule(..., proxy="envoy"),
# as haproxy.py and apache.py do).
# 49 -> 48: the edge analyzers joined the registry (h/lbreg: app/diagnose/lb builds no Report).
# 48 -> 49 when Caddy joined the registry (h/caddy), with no new branch: parsers/lblogs/caddy.py,
# Caddy's log-family reader, names its family "caddy" (the other modules that name the family
# counted already; analyzers/cloud_lb.py and app/diagnose/__init__.py lost theirs).
# 49 -> 47: sources/proxyprocs.py and app/diagnose/discover.py ask the registry (h/oncall3).
# 49 -> 42 (h/fixplug): fix/mitigate ask the registry; app/fix/proxies.py moved to proxies/*/fix.py.
# 47 + 42 -> 40 when both merged.
# 49 -> 41: Envoy's and Caddy's log families in proxies/<name>/log.py, via the registry (h/edgeplug).
# 40 + 41 -> 32 when h/edgeplug merged after h/oncall3 and h/fixplug.
# 49 -> 41 (h/diagplug): diagnose's and explain's per-proxy code into proxies/<name>/ plug-ins.
# 32 + 41 -> 24 when h/diagplug merged.
# 47 -> 42 (h/logplug): the classify parsers and catalog.patterns read their log families from
# the catalog's [families] and [heads] (data: the parsers are below the registry).
# 42 -> 31 (h/logplug): evidence, app and cli's error-log path ask the registry (ENGINE, capabilities).
# 24 + 31 -> 8 when h/logplug merged (left: the lint modules and catalog/docs.py).
# 49 -> 42: each proxy's lint rules and input in its folder (h/lintplug): analyzers/lint/{__init__,
# registry,checks/*}, app/lint.py and catalog/lint_rules.py ask the registry (Hooks.lint_rules/lint_input).
# 8 -> 1 when h/lintplug merged (left: catalog/docs.py).
# 1 -> 0: catalog/docs.py takes its fix snippets' fence language from patterns.toml ([docs]).
# 0 -> 0 when Traefik joined the registry (h/traefik): analyzers/cloud_lb.py, app/explain.py
# lost their "traefik".


def identifiers(source: str) -> list[str]:
    """The proxy names ``source`` uses as identifiers (the rule of the module docstring)."""
    return [node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in PROXIES]


def remaining() -> dict[str, int]:
    """Per module (path under src/why502) the number of proxy names used as identifiers."""
    out: dict[str, int] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if not rel.startswith(EXEMPT) and (n := len(identifiers(path.read_text(encoding="utf-8")))):
            out[rel] = n
    return out


def test_analyzers_and_reporters_name_no_proxy() -> None:
    """The cause model and the renderers are proxy-neutral: zero, not a ratchet."""
    found = {rel: n for rel, n in remaining().items()
             if rel.startswith("reporters/") or (rel.startswith("analyzers/")
                                                 and not rel.startswith("analyzers/lint/"))}
    assert found == {}, f"proxy names as identifiers (ask why502.proxies instead): {found}"


def test_proxy_names_outside_proxies_only_go_down() -> None:
    found = remaining()
    listing = "\n".join(f"  {n:3} {rel}" for rel, n in sorted(found.items()))
    assert len(found) <= MAX_FILES, (
        f"{len(found)} modules name a proxy as an identifier (ratchet: {MAX_FILES}); ask the "
        f"registry (why502.proxies) instead:\n{listing}")


def test_the_scan_sees_what_it_must() -> None:
    """The rule counts an identifier and ignores prose (so the numbers above mean something)."""
    code = ('if ev.proxy == "haproxy":\n    """nginx\'s worker user"""\n    x = f"nginx {y}"\n'
            'NAMES = {"apache": "Apache"}\n')
    assert identifiers(code) == ["haproxy", "apache"]


# -- the stricter count: a proxy *named* in code -------------------------------------------------
#
# Issue 23's "Done when" counts the files outside ``proxies/`` and ``lab/`` that name a proxy
# (goal 0).  The rule above counts a name used as an identifier; this one counts every mention the
# program itself makes: an identifier that spells a proxy (``nginx_conf``, ``_all_down_haproxy``)
# or a string that is not a docstring (``"nginx could not connect ..."``, ``"--nginx-conf"``,
# ``"nginx -T"``).  An analyzer's sentence that says "nginx" is said to an Apache user too; a
# command it prints is one an HAProxy user cannot run.  Comments and docstrings are prose for the
# reader of the code, and free.  ``MAX_NAMING_FILES`` is a ratchet: 61 on main at 5b06100; 12 when
# h/config and h/words merged (stop 39).

_NAMED = re.compile("|".join(map(re.escape, PROXIES)), re.IGNORECASE)
_STATEMENT_START = {tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE, tokenize.NL, None}

# 12 -> 1 with h/logs (each proxy's line heads as data in its folder, the engine's names) and
# Envoy's --lb-timeout default declared by Envoy (Vocabulary.lb_timeout).
# 1 -> 0 (h/layers): parsers/errorlog_native.py imported the C extension ``_nginxscan``, the
# native scanner of the engine's format; nginx's declaration names it now
# (``Hooks.native_scanner``) and the registry hands it down (``parsers.native``).
MAX_NAMING_FILES = 0


def named_in_code(source: str) -> list[str]:
    """The identifiers and non-docstring strings of ``source`` that name a proxy."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type != tokenize.COMMENT]
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if not _NAMED.search(tok.string):
            continue
        if tok.type == tokenize.NAME:
            out.append(tok.string)
        elif tok.type == tokenize.STRING:
            before = tokens[i - 1].type if i else None
            after = tokens[i + 1].type if i + 1 < len(tokens) else None
            if before in _STATEMENT_START and after in (tokenize.NEWLINE, tokenize.NL, None):
                continue  # a string statement on its own: a docstring
            out.append(tok.string)
    return out


def naming() -> dict[str, list[str]]:
    """Per module (path under src/why502) what of its code names a proxy."""
    out: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if not rel.startswith(EXEMPT) and (found := named_in_code(path.read_text(encoding="utf-8"))):
            out[rel] = found
    return out


def test_files_naming_a_proxy_outside_proxies_only_go_down() -> None:
    found = naming()
    listing = "\n".join(f"  {rel}: {', '.join(sorted(set(names))[:4])}" for rel, names in found.items())
    assert len(found) <= MAX_NAMING_FILES, (
        f"{len(found)} modules name a proxy in their code (ratchet: {MAX_NAMING_FILES}): say the "
        f"proxy's own words (why502.proxies: vocabulary, hooks) or move the code to its folder:\n{listing}")


def test_the_stricter_scan_sees_names_and_skips_prose() -> None:
    code = ('"""nginx\'s module docstring"""\n'
            'def f(nginx_conf):  # an nginx comment\n'
            '    """HAProxy docstring."""\n'
            '    say(f"nginx could not connect to {x}")\n'
            '    return "--nginx-conf", "Caddyfile", "the proxy"\n')
    assert named_in_code(code) == ["nginx_conf", 'f"nginx could not connect to {x}"', '"--nginx-conf"',
                                   '"Caddyfile"']
