"""``why502 lint`` wiring: read the config (and, for this host, FPM pools and limits), run the
rules, render text / JSON / SARIF; also generates the rule docs pages and the corpus table.

Host facts are used only when linting this host's nginx (no NGINX_CONF argument, or ``--host``):
a config copied from another machine must not be judged against this machine's somaxconn.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from why502 import __version__
from why502.analyzers.lint import LintFinding, LintInput, LintRule, load_rules, run_lint, severity_rank
from why502.errors import InputError, UsageError
from why502.facts.fpm import FpmPool
from why502.parsers.nginx_config import NginxConfig, parse_size
from why502.reporters.sarif import SarifNotification, SarifResult, SarifRule, SarifRun, to_sarif
from why502.textutil import strip_terminal_escapes

DOCS_BASE_URL = "https://github.com/why502/why502/blob/main/docs/lint/"
"""Where the generated rule pages are published (SARIF ``helpUri``)."""


@dataclass
class LintOptions:
    nginx_conf: str | None = None
    fpm_conf: list[str] = field(default_factory=list)
    host: bool | None = None  # None: only when nginx_conf is None
    header_bytes: int | None = None
    backend_timeout: float | None = None
    backend_keepalive: float | None = None
    somaxconn: int | None = None
    mem_total: int | None = None
    nofile: int | None = None
    rules: list[str] = field(default_factory=list)
    root: str | None = None


@dataclass
class LintOutcome:
    config: NginxConfig
    findings: list[LintFinding]
    notes: list[tuple[str, str, str | None, int | None]]  # (severity, message, file, line)
    inputs: dict[str, Any]


Note = tuple[str, str, str | None, int | None]  # (severity, message, file, line)


def _pools_from_files(paths: list[str], notes: list[Note]) -> list[FpmPool]:
    """FPM pools: the system area's loader (includes, discovery), per given path."""
    from why502.sources.fpm import load_fpm_config

    pools: list[FpmPool] = []
    for path in paths or [None]:  # type: ignore[list-item]
        fpm = load_fpm_config(path)
        for d in fpm.diagnostics:
            if path is not None or d.severity != "info":
                notes.append((d.severity, d.message, d.source, None))
        pools.extend(fpm.pools)
    return pools


def gather(options: LintOptions) -> LintOutcome:
    """Read everything lint needs (sources), then run the pure rules."""
    from why502.sources.nginx import load_config

    if options.root is not None:
        from why502.parsers.nginx_config import parse_nginx

        if not options.nginx_conf:
            raise UsageError("--root needs NGINX_CONF")
        try:
            cfg = parse_nginx(options.nginx_conf, root=options.root)
        except OSError as err:
            raise InputError(f"{options.nginx_conf}: {err.strerror or err}") from None
    else:
        cfg = load_config(options.nginx_conf)
    errors = [p for p in cfg.problems if p.severity == "error"]
    if not cfg.main.directives and errors:
        where = f"{errors[0].file}:{errors[0].line}" if errors[0].line else (errors[0].file or cfg.main_file)
        msg = strip_terminal_escapes(f"{where}: not a readable nginx config: {errors[0].message}")
        raise InputError(msg.splitlines()[0] if msg else "not a readable nginx config")
    notes: list[Note] = [(p.severity, p.message, p.file, p.line) for p in cfg.problems]
    use_host = options.host if options.host is not None else options.nginx_conf is None
    pools: list[FpmPool] = []
    if options.fpm_conf:
        pools = _pools_from_files(options.fpm_conf, notes)
    elif use_host:
        pools = _pools_from_files([], notes)
    somaxconn, mem_total, nofile = options.somaxconn, options.mem_total, options.nofile
    groups: tuple[str, ...] = ()
    if use_host:
        from why502.sources.nginx import host_facts

        facts = host_facts(cfg)
        somaxconn = somaxconn or facts.somaxconn
        mem_total = mem_total or facts.mem_total
        nofile = nofile or facts.nofile
        groups = facts.nginx_groups
        notes.extend(("info", m, None, None) for m in facts.notes)
    inp = LintInput(config=cfg, pools=tuple(pools), header_bytes=options.header_bytes,
                    backend_timeout=options.backend_timeout, backend_keepalive=options.backend_keepalive,
                    somaxconn=somaxconn, mem_total=mem_total, nofile=nofile, nginx_groups=groups)
    rules = load_rules()
    only: set[str] | None = None
    if options.rules:
        known = set(rules) | {r.name for r in rules.values()}
        unknown = [r for r in options.rules if r not in known]
        if unknown:
            raise UsageError(f"unknown lint rule {unknown[0]!r} (see 'why502 lint --list-rules')")
        only = set(options.rules)
    findings = run_lint(inp, only)
    inputs = {
        "nginx_conf": options.nginx_conf or cfg.source, "files": cfg.files,
        "fpm_pools": [f"{p.name} ({p.file})" for p in pools], "host_facts": use_host,
        "somaxconn": somaxconn, "mem_total": mem_total, "nofile": nofile,
        "header_bytes": options.header_bytes, "backend_timeout": options.backend_timeout,
        "backend_keepalive": options.backend_keepalive,
    }
    return LintOutcome(cfg, findings, notes, inputs)


def exit_code(findings: list[LintFinding], fail_on: str) -> int:
    """1 when a finding is at or above ``fail_on`` (``never`` disables), else 0."""
    if fail_on == "never":
        return 0
    limit = severity_rank(fail_on)
    return 1 if any(severity_rank(f.severity) >= limit for f in findings) else 0


# --- rendering -----------------------------------------------------------------------------

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_text(outcome: LintOutcome, out: TextIO, color: bool | None = None) -> None:
    """Human output: one block per finding (file:line, severity, code, message, fix diff)."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=out, highlight=False, soft_wrap=True,
                      force_terminal=color if color is not None else None,
                      no_color=color is False)
    rules = load_rules()
    for sev, msg, file, line in outcome.notes:
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        console.print(f"[dim]note ({sev}): {escape(strip_terminal_escapes(where + msg))}[/dim]")
    for f in outcome.findings:
        style = _STYLE.get(f.severity, "")
        where = escape(strip_terminal_escapes(f.where))
        console.print(f"[bold]{where}[/bold]  [{style}]{f.severity}[/{style}]  {f.code} {f.name}")
        console.print("  " + escape(strip_terminal_escapes(f.message)))
        for rf, rl in f.related:
            console.print(f"  [dim]see {escape(strip_terminal_escapes(f'{rf}:{rl}'))}[/dim]")
        if f.diff:
            for dl in strip_terminal_escapes(f.diff).splitlines():
                st = "green" if dl.startswith("+") else "red" if dl.startswith("-") else "dim"
                console.print(f"    [{st}]{escape(dl)}[/{st}]")
        console.print(f"  [dim]docs: {DOCS_BASE_URL}{f.code}.md ({rules[f.code].title})[/dim]")
    counts = Counter(f.severity for f in outcome.findings)
    summary = ", ".join(f"{counts[s]} {s}" for s in ("error", "warning", "info") if counts[s])
    summary = summary or "no findings"
    console.print(f"{len(outcome.config.files)} file(s) checked: {summary}")


def to_json(outcome: LintOutcome) -> dict[str, Any]:
    return {
        "tool": "why502 lint", "version": __version__,
        "findings": [f.to_dict() for f in outcome.findings],
        "diagnostics": [{"severity": s, "message": m, "file": f, "line": ln}
                        for s, m, f, ln in outcome.notes],
        "inputs": outcome.inputs,
    }


def sarif_rules() -> list[SarifRule]:
    return [SarifRule(r.code, r.name, r.title, f"{r.what}\n\n{r.why}".replace("\n", " ").replace("  ", " "),
                      f"{DOCS_BASE_URL}{r.code}.md", rule_page(r), r.severity)
            for r in load_rules().values()]


def to_sarif_log(outcome: LintOutcome) -> dict[str, Any]:
    results = [SarifResult(f.code, f.severity, f.message, f.file, f.line, f.related, f.diff)
               for f in outcome.findings]
    notes = [SarifNotification(s, m, f, ln) for s, m, f, ln in outcome.notes]
    return to_sarif(SarifRun(__version__, sarif_rules(), results, notes))


# --- docs pages (generated from lint_rules.toml; tests fail when docs/lint is stale) ---------


def rule_page(rule: LintRule) -> str:
    """The Markdown page of one rule; sections: What it means, Why it causes 502/504, How to
    confirm, Example, Fix, References."""
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        "<!-- generated from src/why502/catalog/data/lint_rules.toml by "
        "`python -m why502.app.lint docs docs/lint`; do not edit -->",
        "",
        f"**{rule.title}**",
        "",
        f"Severity: `{rule.severity}`"
        + (f" · Root cause: [`{rule.cause}`](../causes/{rule.cause}.md)" if rule.cause else "")
        + (f" · Needs: {', '.join(rule.needs)}" if rule.needs else ""),
        "",
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
        "```nginx",
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


def index_page(rules: list[LintRule]) -> str:
    lines = [
        "# why502 lint rules",
        "",
        "<!-- generated from src/why502/catalog/data/lint_rules.toml by "
        "`python -m why502.app.lint docs docs/lint`; do not edit -->",
        "",
        "`why502 lint [NGINX_CONF]` checks an nginx configuration for settings that cause 502/503/504.",
        "Rules marked *needs* only run when that input is given (see `why502 lint --help`).",
        "",
        "| code | name | severity | title |",
        "|---|---|---|---|",
        *[f"| [{r.code}]({r.code}.md) | `{r.name}` | {r.severity} | {r.title} |" for r in rules],
        "",
        "Corpus results (false-positive review): [corpus-results.md](corpus-results.md).",
        "",
    ]
    return "\n".join(lines)


def docs_files() -> dict[str, str]:
    rules = list(load_rules().values())
    files = {f"{r.code}.md": rule_page(r) for r in rules}
    files["README.md"] = index_page(rules)
    return files


# --- corpus table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus config and how to read it without touching this machine's /etc/nginx."""

    name: str
    main: Path
    root: str
    aliases: dict[str, str]


def corpus_entries(corpus: Path) -> list[CorpusEntry]:
    """Each entry of a corpus folder (like /work/shared/corpus/nginx-configs).

    A folder laid out as installed (``etc/``, ``config/`` subfolders) is the file-system root; any
    other folder stands for ``/etc/nginx`` (its ``conf.d/`` answers ``include
    /etc/nginx/conf.d/*.conf``).  Absolute includes never reach the real ``/etc``: a single file's
    absolute includes resolve under a root that does not exist, so results do not depend on the
    machine running the tests.  A folder's main file is its shallowest ``nginx.conf``.
    """
    nowhere = str(corpus / ".no-such-root")
    out: list[CorpusEntry] = []
    for entry in sorted(corpus.iterdir()):
        if entry.name == "README.md" or entry.name.startswith("."):
            continue
        if entry.is_dir():
            mains = sorted(entry.rglob("nginx.conf"), key=lambda p: (len(p.parts), str(p)))
            mains = mains or sorted(entry.rglob("*.conf"))
            if not mains:
                continue
            if (entry / "etc").is_dir() or (entry / "config").is_dir():
                out.append(CorpusEntry(entry.name, mains[0], str(entry), {}))
            else:
                out.append(CorpusEntry(entry.name, mains[0], nowhere, {"/etc/nginx": str(entry)}))
        else:
            out.append(CorpusEntry(entry.name, entry, nowhere, {}))
    return out


def corpus_results(corpus: Path, judgements: dict[str, str]) -> str:
    """Markdown: per-rule finding counts over the corpus, with the reviewer's FP judgement."""
    rules = load_rules()
    per_rule: Counter[str] = Counter()
    per_file: dict[str, Counter[str]] = {}
    crashed: list[str] = []
    from why502.parsers.nginx_config import parse_nginx

    for entry in corpus_entries(corpus):
        name = entry.name
        try:
            cfg = parse_nginx(entry.main, root=entry.root, aliases=entry.aliases)
            findings = run_lint(LintInput(config=cfg))
        except Exception as err:
            crashed.append(f"{name}: {type(err).__name__}: {err}")
            continue
        c = Counter(f.code for f in findings)
        per_file[name] = c
        per_rule.update(c)
    lines = [
        "# why502 lint on the real-config corpus",
        "",
        "<!-- generated by `python -m why502.app.lint corpus /work/shared/corpus/nginx-configs "
        "docs/lint/corpus-results.md`; judgements are kept in app/lint.py CORPUS_JUDGEMENTS -->",
        "",
        f"{len(per_file)} configurations parsed and linted (no host facts, no FPM pools, no observed "
        f"header sizes), {len(crashed)} crashed.",
        "",
        "| rule | findings | configs | judgement |",
        "|---|---:|---:|---|",
    ]
    for code, rule in rules.items():
        configs = sum(1 for c in per_file.values() if c[code])
        lines.append(f"| {code} `{rule.name}` | {per_rule[code]} | {configs} | "
                     f"{judgements.get(code, '')} |")
    lines += ["", "## Per configuration", "", "| config | findings |", "|---|---|"]
    for name, c in per_file.items():
        detail = ", ".join(f"{k}×{v}" for k, v in sorted(c.items())) or "—"
        lines.append(f"| {name} | {detail} |")
    if crashed:
        lines += ["", "## Crashes", "", *[f"- {c}" for c in crashed]]
    lines.append("")
    return "\n".join(lines)


CORPUS_JUDGEMENTS: dict[str, str] = {
    "W502-001": "true positive: gunicorn-tests-http2 sets proxy_http_version 1.1 but no "
                '`Connection ""`, so its keepalive 32 pool stays empty',
    "W502-002": "true as stated (Docker service names / hosts resolved once at start); matters when "
                "addresses change (containers), harmless with stable DNS: noisy but no false positive",
    "W502-003": "0: linuxserver-swag fired 16x before the guard (its resolver is in a generated include "
                "absent from the corpus: false positives); now silent when an include of the location's "
                "files is unreadable. fun-with-health-checks `$arg_server` has a resolver: correctly silent",
    "W502-004": "needs --header-bytes: not run on the corpus (fixtures only)",
    "W502-005": "needs FPM pools or --backend-timeout: not run on the corpus (fixtures only)",
    "W502-006": "true per nginx semantics (all servers at default max_fails=1); discourse (4 unix sockets), "
                "GCE pool, stream galera/redis pools; useful but somewhat noisy",
    "W502-007": "info by design: true statement, not a defect for a local app server",
    "W502-008": "no config uses non_idempotent",
    "W502-009": "needs FPM pools: not run on the corpus (fixtures only)",
    "W502-010": "needs FPM pools: not run on the corpus (fixtures only)",
    "W502-011": "needs FPM pools + somaxconn: not run on the corpus (fixtures only)",
    "W502-012": "needs FPM pools + MemTotal: not run on the corpus (fixtures only)",
    "W502-013": "no config sets worker_rlimit_nofile below worker_connections; host limit not used here",
    "W502-014": "true positives: https to avatars.discourse.org and vouch.yourdomain.com without SNI",
    "W502-015": "0: temporal (grpc_connect_timeout 75 vs default read 60s) fired before and was judged a "
                "false positive (not a unit slip); the rule now needs an explicitly set read timeout",
    "W502-016": "true positive (info): fun-with-health-checks intercepts 502/503 with error_page",
    "W502-017": "0: matomo/magento/nextcloud/swarm get SCRIPT_FILENAME from includes missing in the corpus "
                "(fastcgi_params, snippets): silent by the unreadable-include guard",
    "W502-018": "none in the corpus",
    "W502-019": "none: nextcloud-docker and kubernetes demos use `resolve` with a zone",
    "W502-020": "none in the corpus",
    "W502-021": "needs --backend-keepalive: not run on the corpus (fixtures only)",
    "W502-022": "true positives: random-files upstream localhost:3306, njs join-subrequests "
                "localhost:8080/8090",
    "W502-023": "true for the file as shipped: magento's fastcgi_backend upstream exists only in comments "
                "(users must define it)",
}


def main(argv: list[str] | None = None) -> int:
    """``python -m why502.app.lint docs DIR`` | ``corpus CORPUS_DIR OUT.md``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "docs":
        target = Path(args[1])
        target.mkdir(parents=True, exist_ok=True)
        for name, text in docs_files().items():
            (target / name).write_text(text, encoding="utf-8")
        return 0
    if len(args) == 3 and args[0] == "corpus":
        Path(args[2]).write_text(corpus_results(Path(args[1]), CORPUS_JUDGEMENTS), encoding="utf-8")
        return 0
    print("usage: python -m why502.app.lint docs DIR | corpus CORPUS_DIR OUT.md", file=sys.stderr)
    return 2


def parse_mem(text: str) -> int:
    size = parse_size(text)
    if size is None:
        raise UsageError(f"bad size {text!r} (e.g. 2048m, 4g)")
    return size


if __name__ == "__main__":
    raise SystemExit(main())

