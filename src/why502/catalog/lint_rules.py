"""The lint rules as data: code, name, severity, and the text of each rule's page.

The rules live in ``catalog/data/lint_rules.toml``; the checks that implement them register
next to their code in ``why502.analyzers.lint`` (``@rule(code, ...)``) and a test keeps both
lists equal.  ``why502 lint`` (titles, SARIF ``help``), ``why502 explain W502-001`` and the
pages in ``docs/lint/`` (``scripts/lint-docs``) read this one place.

Loading uses only the standard library (``tomllib``, ``catalog.tomldata``) so ``why502 explain`` stays fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from why502 import PROJECT_URL
from why502.catalog import tomldata
from why502.catalog.folders import folder_tables

SEVERITIES = ("info", "warning", "error")

DOCS_BASE_URL = f"{PROJECT_URL}/blob/main/docs/lint/"
"""Where the generated rule pages are published (SARIF ``helpUri``, the text output's links)."""

DOCS_GENERATOR = "scripts/lint-docs pages docs/lint"
"""The command that writes ``docs/lint/`` (named in each page's header)."""

CODE_RE = re.compile(r"^W502-\d{3}$", re.IGNORECASE)


@dataclass(frozen=True)
class LintRule:
    """One rule of ``lint_rules.toml``: every field is required for the docs page."""

    code: str
    name: str
    severity: str
    cause: str
    title: str
    what: str
    why: str
    confirm: tuple[str, ...]
    example: str
    fix: str
    fix_example: str
    references: tuple[str, ...]
    needs: tuple[str, ...] = ()  # optional inputs the rule needs (FPM pools, --header-bytes, ...)
    # code-fence language of fix_example (ini for PHP-FPM / sysctl files); the TOML's, else its
    # [defaults]' (the proxy's grammar)
    fix_lang: str = ""
    # Trade-offs and informational rules do not run unless selected (--select/--enable, as in
    # ruff): the default output is a list to act on.  ``off_reason`` says why it is off.
    off_by_default: bool = False
    off_reason: str = ""
    # The proxy whose config the rule reads, as the TOML says (else its [defaults]): lint runs
    # the rules of the config's kind only, and the page's example is fenced in that proxy's
    # grammar.  The catalog sits below the registry (why502.proxies): the caller that registers
    # the checks (analyzers.lint.registry.registered) checks it is the registered proxy whose
    # lint plug-in implements the rule.
    proxy: str = ""


def _rule_files() -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The TOML tables of the rules with their defaults: ``catalog/data/lint_rules.toml``, then
    each proxy folder's own ``proxies/<name>/lint_rules.toml`` (its rules' ``proxy`` defaults to
    the folder's name), so a proxy's rule texts live with its checks (issue 23: adding a proxy is
    its folder).  Read as package data, not imported: the catalog stays below the registry, and
    ``analyzers.lint.registry.registered`` checks each rule's proxy against the plug-in that
    implements it (``catalog.folders``)."""
    main = resources.files("why502.catalog").joinpath("data").joinpath("lint_rules.toml")
    out: list[tuple[dict[str, Any], dict[str, str]]] = [(tomldata.table(main), {})]
    out += [(data, {"proxy": folder}) for folder, data in folder_tables("lint_rules.toml")]
    return out


@lru_cache(maxsize=1)
def load_rules() -> dict[str, LintRule]:
    """The rules by code, in code order (as ``analyzers.lint.registry.registered`` lists the
    checks): read from the catalog's file, then the proxies' folders' in folder-name order, which
    is no code order once a folder that sorts first holds later codes (APISIX's W502-043..046
    before Kong's W502-042)."""
    rules: dict[str, LintRule] = {}
    for data, folder_defaults in _rule_files():
        _add_rules(rules, data.get("rule", []), {**folder_defaults, **data.get("defaults", {})})
    return dict(sorted(rules.items()))


def _add_rules(rules: dict[str, LintRule], raws: list[dict[str, Any]], defaults: dict[str, str]) -> None:
    for raw in raws:
        rule = LintRule(
            code=raw["code"], name=raw["name"], severity=raw["severity"], cause=raw.get("cause", ""),
            title=raw["title"], what=raw["what"].strip(), why=raw["why"].strip(),
            confirm=tuple(raw["confirm"]), example=raw["example"], fix=raw["fix"].strip(),
            fix_example=raw["fix_example"], references=tuple(raw["references"]),
            needs=tuple(raw.get("needs", [])), fix_lang=raw.get("fix_lang", defaults.get("fix_lang", "")),
            off_by_default=bool(raw.get("off_by_default", False)), off_reason=raw.get("off_reason", ""),
            proxy=raw.get("proxy", defaults.get("proxy", "")),
        )
        if rule.off_by_default and not rule.off_reason:
            raise ValueError(f"{rule.code}: off_by_default needs an off_reason")
        if rule.code in rules:
            raise ValueError(f"duplicate lint rule code {rule.code}")
        if not rule.proxy or not rule.fix_lang:
            raise ValueError(f"{rule.code}: no proxy or fix_lang (nor a [defaults] one)")
        if rule.severity not in SEVERITIES:
            raise ValueError(f"{rule.code}: bad severity {rule.severity!r}")
        rules[rule.code] = rule


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def find_rule(arg: str) -> LintRule | None:
    """The rule a code (``W502-001``, any case) or a rule name
    (``upstream-keepalive-without-http11``) names, else ``None``."""
    text = arg.strip()
    rules = load_rules()
    if CODE_RE.match(text):
        return rules.get(text.upper())
    return next((r for r in rules.values() if r.name == text.lower()), None)


def resolve_rules(args: list[str], option: str) -> set[str]:
    """Codes for the rule codes or names given to ``option`` (``--select``, ``--ignore``): each
    argument may be a comma-separated list; ``ALL`` is every rule.  Raises ``ValueError`` naming
    the first unknown one."""
    codes: set[str] = set()
    for arg in args:
        for part in arg.split(","):
            if not part.strip():
                continue
            if part.strip().upper() == "ALL":
                codes.update(load_rules())
                continue
            rule = find_rule(part)
            if rule is None:
                raise ValueError(f"unknown lint rule {part.strip()!r} in {option} "
                                 "(see 'why502 lint --list-rules')")
            codes.add(rule.code)
    return codes


def rule_page(rule: LintRule, proxy_title: str) -> str:
    """The Markdown page of one rule; sections: What it means, Why it causes 502/504, How to
    confirm, Example, Fix, References (``docs/lint/<code>.md`` and SARIF ``help.markdown``).
    ``proxy_title``: how a heading names the rule's proxy (``proxies.long_title``: the caller
    asks the registry, above the catalog)."""
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        "<!-- generated from src/why502/catalog/data/lint_rules.toml by "
        f"`{DOCS_GENERATOR}`; do not edit -->",
        "",
        f"**{rule.title}**",
        "",
        f"Proxy: {proxy_title} · Severity: `{rule.severity}`"
        + (f" · Root cause: [`{rule.cause}`](../causes/{rule.cause}.md)" if rule.cause else "")
        + (f" · Needs: {', '.join(rule.needs)}" if rule.needs else ""),
        "",
        *([f"Off by default ({rule.off_reason}); run it with `why502 lint --enable {rule.code}`.", ""]
          if rule.off_by_default else []),
        "## What it means",
        "",
        rule.what,
        "",
        "## Why it causes 502 or 504",
        "",
        rule.why,
        "",
        "## How to confirm",
        "",
        "```sh",
        *rule.confirm,
        "```",
        "",
        "## Example",
        "",
        f"```{rule.proxy}",
        rule.example.rstrip(),
        "```",
        "",
        "## Fix",
        "",
        rule.fix,
        "",
        f"```{rule.fix_lang}",
        rule.fix_example.rstrip(),
        "```",
        "",
        "## References",
        "",
        *[f"- <{ref}>" for ref in rule.references],
        "",
    ]
    return "\n".join(lines)
