"""Write (or check) the lint docs: the rule pages of docs/lint/ and the corpus table.

    scripts/lint-docs pages docs/lint [--check]
    scripts/lint-docs corpus CORPUS_DIR docs/lint/corpus-results.md [--check]

``pages`` writes ``<code>.md`` for every rule (the page ``why502 explain`` and SARIF ``help``
show too, ``why502.catalog.lint_rules.rule_page``) and the ``README.md`` index.  ``corpus``
lints every config of a folder of real configs (no host facts, no FPM pools, no observed header
sizes) and writes per-rule counts with the reviewer's false-positive judgement
(``CORPUS_JUDGEMENTS`` below).  With ``--check`` nothing is written: the exit status is 1 when
a file is stale (or the corpus run crashed on a config, or a rule has no judgement).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from why502.analyzers.lint import LintFacts, LintSpec, run_lint
from why502.catalog.lint_rules import DOCS_GENERATOR, LintRule, load_rules, rule_page
from why502.proxies import DEFAULT, PROXIES, long_title
from why502.proxies.base import resolve
from why502.proxies.nginx.config.load import config_trees, parse_nginx

CORPUS_GENERATOR = "scripts/lint-docs corpus CORPUS_DIR docs/lint/corpus-results.md"


def index_page(rules: list[LintRule]) -> str:
    lines = [
        "# why502 lint rules",
        "",
        "<!-- generated from src/why502/catalog/data/lint_rules.toml by "
        f"`{DOCS_GENERATOR}`; do not edit -->",
        "",
        "`why502 lint [--config FILE]` checks a proxy's configuration for settings that cause "
        "502/503/504: nginx (`nginx.conf` or an `nginx -T` dump), HAProxy (`haproxy.cfg`) or Apache "
        "httpd (`apache2.conf`/`httpd.conf` with its includes); the kind is detected from the content "
        "(`--proxy` forces it) and only that proxy's rules run.",
        "Rules marked *needs* only run when that input is given (see `why502 lint --help`).",
        "",
        "| code | proxy | name | severity | default | title |",
        "|---|---|---|---|---|---|",
        *[f"| [{r.code}]({r.code}.md) | {long_title(r.proxy)} | `{r.name}` | {r.severity} | "
          f"{'off' if r.off_by_default else 'on'} | {r.title} |" for r in rules],
        "",
        "Rules that are trade-offs or informational are off by default, so the default output is a "
        "list to act on: `--enable CODE` adds them, `--select CODE` runs exactly the rules named "
        "(`ALL`: every rule), as in ruff.",
        "",
        "## Silencing a finding",
        "",
        "- `why502 lint --ignore W502-007` (repeatable, or a comma list `--ignore W502-007,W502-002`; "
        "rule names work too) never reports those rules.",
        "- A comment in the config silences one place: `# why502: ignore W502-007` at the end of the "
        "directive's line (nginx, HAProxy), or alone on the line just above it (any proxy; Apache "
        "httpd has whole-line comments only).  Several codes (or rule names) may be "
        "listed, separated by spaces or commas; the list ends at the first other word, so a reason "
        "may follow (`# why502: ignore W502-007 one backend by design`).  `# why502: ignore` "
        "without codes silences every rule there.  `--no-inline-ignores` reports them anyway.",
        "- The line is the one a finding points at (`file:line` in the output).",
        "",
        "Corpus results (false-positive review): [corpus-results.md](corpus-results.md).",
        "",
    ]
    return "\n".join(lines)


def nginx_rules() -> dict[str, LintRule]:
    """The rules the nginx corpus can exercise (HAProxy's and Apache's read other configs)."""
    return {code: r for code, r in load_rules().items() if r.proxy == DEFAULT}


def docs_files() -> dict[str, str]:
    """File name -> text of every page of docs/lint/ except the corpus table."""
    rules = list(load_rules().values())
    files = {f"{r.code}.md": rule_page(r, long_title(r.proxy)) for r in rules}
    files["README.md"] = index_page(rules)
    return files


def corpus_results(corpus: Path, judgements: dict[str, str],
                   verdicts: dict[str, tuple[int, int, int]] | None = None) -> tuple[str, list[str]]:
    """Markdown: per-rule finding counts over the corpus (every rule, off-by-default ones too),
    with the reviewer's true / false / debatable counts and judgement; and the configs that
    crashed, or whose verdict counts no longer add up to the findings (a rule changed: judge
    again)."""
    verdicts = CORPUS_VERDICTS if verdicts is None else verdicts
    rules = nginx_rules()
    spec = resolve(PROXIES[DEFAULT].hooks.lint_input)  # the corpus is nginx's: its lint plug-in
    assert isinstance(spec, LintSpec)
    per_rule: Counter[str] = Counter()
    per_file: dict[str, Counter[str]] = {}
    crashed: list[str] = []
    for entry in config_trees(corpus):
        name = entry.name
        try:
            cfg = parse_nginx(entry.main, root=entry.root, aliases=entry.aliases)
            findings = run_lint(spec.build(cfg, LintFacts()), set(rules))
        except Exception as err:
            crashed.append(f"{name}: {type(err).__name__}: {err}")
            continue
        c = Counter(f.code for f in findings)
        per_file[name] = c
        per_rule.update(c)
    lines = [
        "# why502 lint on the real-config corpus",
        "",
        f"<!-- generated by `{CORPUS_GENERATOR}`; judgements are kept in scripts/lint_docs.py "
        "CORPUS_JUDGEMENTS -->",
        "",
        f"{len(per_file)} configurations parsed and linted (no host facts, no FPM pools, no observed "
        f"header sizes), {len(crashed)} crashed.",
        "",
        "Every finding was judged by reading the config: **true** (the failure the message states can "
        "happen with this config as written), **false** (it cannot), **debatable** (true as stated, "
        "but a deliberate trade-off, or the file is a fragment/placeholder whose real context decides).",
        "",
        "| rule | default | findings | configs | true | false | debatable | judgement |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    totals = [0, 0, 0, 0]
    for code, rule in rules.items():
        configs = sum(1 for c in per_file.values() if c[code])
        t, f, d = verdicts.get(code, (0, 0, 0))
        if t + f + d != per_rule[code]:
            crashed.append(f"{code}: the verdicts ({t}+{f}+{d}) do not add up to {per_rule[code]} findings")
        if not rule.off_by_default:
            for i, n in enumerate((per_rule[code], t, f, d)):
                totals[i] += n
        lines.append(f"| {code} `{rule.name}` | {'off' if rule.off_by_default else 'on'} | {per_rule[code]} "
                     f"| {configs} | {t} | {f} | {d} | {judgements.get(code, '')} |")
    lines += ["", f"Default output (rules on by default): {totals[0]} findings, {totals[1]} true, "
                  f"{totals[2]} false, {totals[3]} debatable."]
    lines += ["", "## Per configuration", "", "| config | findings |", "|---|---|"]
    for name, c in per_file.items():
        detail = ", ".join(f"{k}×{v}" for k, v in sorted(c.items())) or "—"
        lines.append(f"| {name} | {detail} |")
    if crashed:
        lines += ["", "## Crashes", "", *[f"- {c}" for c in crashed]]
    lines.append("")
    return "\n".join(lines), crashed


CORPUS_VERDICTS: dict[str, tuple[int, int, int]] = {
    # code: (true, false, debatable) over the corpus findings, judged by reading each config
    "W502-001": (1, 0, 0),
    "W502-002": (7, 1, 9),
    "W502-006": (0, 0, 5),
    "W502-007": (0, 0, 17),
    "W502-014": (1, 0, 2),
    "W502-016": (1, 0, 0),
    "W502-022": (3, 0, 0),
}

CORPUS_JUDGEMENTS: dict[str, str] = {
    "W502-001": "true positive: gunicorn-tests-http2 sets proxy_http_version 1.1 but no "
                '`Connection ""`, so its keepalive 32 pool stays empty',
    "W502-002": "true: Docker Compose service names (gunicorn tests x4, temporal x2: a recreated "
                "container gets a new address) and avatars.discourse.org (a CDN); false: the oauth2 "
                "demo's `http://my_backend` is the upstream group of the demo's other files (an "
                "underscore name, not a host); debatable: vouch-proxy's placeholder hosts "
                "(yourdomain.com, x8) and a crossplane parser fixture",
    "W502-003": "0: linuxserver-swag fired 16x before the guard (its resolver is in a generated include "
                "absent from the corpus: false positives); now silent when an include of the location's "
                "files is unreadable. fun-with-health-checks `$arg_server` has a resolver: correctly silent",
    "W502-004": "needs --header-bytes: not run on the corpus (fixtures only)",
    "W502-005": "needs FPM pools or --backend-timeout: not run on the corpus (fixtures only)",
    "W502-006": "off by default (trade-off of the defaults): discourse (4 unix sockets), GCE pool, stream "
                "galera/redis pools -- true per nginx semantics, a choice only the operator can make",
    "W502-007": "off by default (informational): every one is a true statement about a deliberate "
                "single app server; the three false ones seen before (crossplane lua `foo`, "
                "random-files `example` and gunicorn `gunicorn_asgi_ssl`: used by no *_pass) are now "
                "silent",
    "W502-008": "no config uses non_idempotent",
    "W502-009": "needs FPM pools: not run on the corpus (fixtures only)",
    "W502-010": "needs FPM pools: not run on the corpus (fixtures only)",
    "W502-011": "needs FPM pools + somaxconn: not run on the corpus (fixtures only)",
    "W502-012": "needs FPM pools + MemTotal: not run on the corpus (fixtures only)",
    "W502-013": "no config sets worker_rlimit_nofile below worker_connections; host limit not used here",
    "W502-014": "true: https to avatars.discourse.org (a CDN that needs SNI); debatable: "
                "vouch.yourdomain.com (a placeholder: whether it needs SNI depends on the real host)",
    "W502-015": "0: temporal (grpc_connect_timeout 75 vs default read 60s) fired before and was judged a "
                "false positive (not a unit slip); the rule now needs an explicitly set read timeout",
    "W502-016": "off by default (informational); true: fun-with-health-checks intercepts 502/503 "
                "with error_page",
    "W502-017": "0: magento/nextcloud/swarm get SCRIPT_FILENAME from includes missing in the corpus "
                "(fastcgi_params, snippets): silent by the unreadable-include guard",
    "W502-018": "none in the corpus",
    "W502-019": "none: nextcloud-docker and kubernetes demos use `resolve` with a zone",
    "W502-020": "none in the corpus",
    "W502-021": "needs --backend-keepalive: not run on the corpus (fixtures only)",
    "W502-022": "true positives: random-files upstream localhost:3306, njs join-subrequests "
                "localhost:8080/8090",
    "W502-023": "0: magento's sample (3 debatable before) is a fragment included into a server whose file "
                "defines the fastcgi_backend upstream; silent since the rule speaks only when the whole http "
                "context was read (held-out laradock vhosts: 5 false findings of the same class)",
}


def _write_or_check(files: dict[Path, str], check: bool) -> int:
    stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if not check:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return 0
    for path in stale:
        print(f"{path} is stale: run scripts/lint-docs (see its header)", file=sys.stderr)
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lint-docs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    pages = sub.add_parser("pages", help="the rule pages and their index")
    pages.add_argument("dir", type=Path)
    pages.add_argument("--check", action="store_true", help="exit 1 when a page is stale, write nothing")
    corpus = sub.add_parser("corpus", help="the corpus table")
    corpus.add_argument("corpus", type=Path)
    corpus.add_argument("out", type=Path)
    corpus.add_argument("--check", action="store_true", help="exit 1 when the table is stale, write nothing")
    args = parser.parse_args(argv)
    if args.what == "pages":
        return _write_or_check({args.dir / name: text for name, text in docs_files().items()}, args.check)
    missing = sorted(set(nginx_rules()) ^ set(CORPUS_JUDGEMENTS))
    if missing:
        print(f"CORPUS_JUDGEMENTS and the rules differ: {', '.join(missing)}", file=sys.stderr)
        return 1
    text, crashed = corpus_results(args.corpus, CORPUS_JUDGEMENTS)
    for c in crashed:
        print(f"crashed: {c}", file=sys.stderr)
    status = _write_or_check({args.out: text}, args.check)
    return 1 if crashed and args.check else status


if __name__ == "__main__":
    raise SystemExit(main())
