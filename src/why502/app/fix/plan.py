"""What ``why502 fix`` would change: the config diffs of a report (or of a lint run), applied in
memory to the files as they are now.

A diff is applied only where its context and removed lines match the file exactly (what
``patch`` does without fuzz): a fix made for other bytes must not land on the wrong line.  The
report also pins each file's SHA-256 (``fix.hashes``, schema 1.1), checked before anything is
written.  Commands that are not config changes (restart a backend, raise a kernel limit) are
listed for the person to run, never run.  The plan itself (``Plan``, ``Change``) is a result
type, ``findings.plan``.
"""

from __future__ import annotations

import re

from why502.facts.probes import ProbeTarget
from why502.findings.lint import LintFinding
from why502.findings.model import Report
from why502.findings.patch import HUNK_HEAD, NO_NEWLINE, path_of, split_lines
from why502.findings.plan import Change, Plan
from why502.findings.redact import MARK, same_line
from why502.proxies import DEFAULT, PROXIES, config_key

# a pool's section line (``[www]``): its name holds no newline, as PHP's INI scanner reads it
# (Zend/zend_ini_scanner.l SECTION_RAW_CHARS ``[^\]\n\r]``); a ``[^\]]+`` crossed lines, and a
# file of ``[`` lines without ``]`` was read from each to its end
_POOL = re.compile(r"^[^\S\n]*\[[^\]\n]+\]\s*$", re.MULTILINE)
_FPM_KEY = re.compile(r"^[^\S\n]*(pm(\.[a-z_]+)?|listen(\.[a-z_]+)?|request_terminate_timeout)\s*=",
                      re.MULTILINE)


class PatchError(ValueError):
    """The diff does not apply to the file as it is now."""


def _report_proxy(report: Report) -> str:
    """The proxy a report is about: its ``inputs.proxy`` when that is a proxy of the registry
    (a report of the default proxy, nginx, names none)."""
    proxy = report.inputs.get("proxy")
    return proxy if isinstance(proxy, str) and proxy in PROXIES else DEFAULT


def from_report(report: Report, proxy: str | None = None) -> Plan:
    """The config changes of a saved (or fresh) diagnose report, most likely cause first.  A
    report of several running proxies (diagnose with no flags) names each finding's proxy: one
    run applies one proxy's changes (``proxy``, default the proxy of the first change), since one
    config test and one reload prove them; the others are listed as notes."""
    default = _report_proxy(report)
    with_diffs = [f.proxy or default for f in report.findings if f.fix and f.fix.diff and f.fix.file]
    chosen = proxy or (with_diffs[0] if with_diffs else default)
    discovered = {d.get("proxy"): d.get("config") for d in report.inputs.get("discovered") or []
                  if isinstance(d, dict)}
    # a report names the default proxy's main config by schema 1.0's key, any other's ``config``
    conf = discovered.get(chosen) or report.inputs.get(config_key(chosen))
    plan = Plan(config=conf if isinstance(conf, str) else None, proxy=chosen)
    targets = _probed_targets(report)
    for f in report.findings:
        if f.fix is None:
            continue
        if (f.proxy or default) != chosen:
            if f.fix.diff:
                plan.notes.append(f"{f.cause}: a change to {f.proxy}'s config, not applied in this run "
                                  f"(why502 fix REPORT --proxy {f.proxy})")
            continue
        if f.fix.diff and f.fix.file:
            plan.changes.append(Change(f.cause, f.title, f.fix.file, f.fix.diff,
                                       f.fix.hashes.get(f.fix.file), tuple(f.fix.commands),
                                       targets.get(f.upstream or f.target or "", ()), dict(f.fix.hashes)))
        for cmd in f.fix.commands:
            if not _is_reload(cmd):
                plan.commands.append((f.cause, cmd))
    return plan


def _probed_targets(report: Report) -> dict[str, tuple[ProbeTarget, ...]]:
    """The targets diagnose probed for each upstream (``upstreams[].probes[].target``), by the
    upstream's name and by each target's own label: what verification probes again.  A report is
    input: a target whose fields have the wrong types is left out rather than trusted."""
    out: dict[str, tuple[ProbeTarget, ...]] = {}
    for up in report.upstreams:
        found: list[ProbeTarget] = []
        for probe in up.probes:
            target = _target(probe.get("target"))
            if target is not None:
                found.append(target)
                out.setdefault(target.label, (target,))
        if found:
            out[up.name] = tuple(found)
            for name in up.targets:
                out.setdefault(name, tuple(found))
    return out


def _target(data: object) -> ProbeTarget | None:
    if not isinstance(data, dict):
        return None
    texts = ("kind", "scheme", "host", "unix_path", "group")
    if any(data.get(k) is not None and not isinstance(data.get(k), str) for k in texts):
        return None
    port = data.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        return None
    return ProbeTarget(kind=data.get("kind") or "proxy", scheme=data.get("scheme") or "http",
                       host=data.get("host"), port=port, unix_path=data.get("unix_path"),
                       group=data.get("group"), uses_variables=data.get("uses_variables") is True)


def from_lint(findings: list[LintFinding], config: str | None, proxy: str = DEFAULT) -> Plan:
    plan = Plan(config=config, proxy=proxy)
    for f in findings:
        if f.diff and f.file:
            plan.changes.append(Change(f.code, f"{f.name}: {f.message}", f.file, f.diff))
    return plan


# what --apply itself runs: each proxy's config test and reload, as its findings print them
# (``Vocabulary.applied_commands``), and PHP-FPM's unit reloaded after a pool change
_APPLIED = re.compile(r"^\s*(" + "|".join(
    [*(c for p in PROXIES.values() for c in p.vocabulary.applied_commands),
     r"systemctl (reload|restart) php\S*-fpm"]) + r")\b")


def _is_reload(cmd: str) -> bool:
    """A proxy's config test or reload (``nginx -t``, ``haproxy -c``, ``caddy reload``, ...) is
    what ``--apply`` itself does."""
    return bool(_APPLIED.match(cmd))


def select(plan: Plan, only: set[str]) -> Plan:
    """Keep the changes whose cause ID or rule code (any case) is in ``only``."""
    if not only:
        return plan
    want = {o.lower() for o in only}
    return Plan([c for c in plan.changes if c.key.lower() in want],
                [c for c in plan.commands if c[0].lower() in want], plan.notes, plan.config, plan.proxy)


def file_kind(text: str, proxy: str = DEFAULT) -> str:
    """``php-fpm`` for a pool file (``[pool]`` sections with ``pm``/``listen`` keys), else the
    proxy's name: which program's checker tests the change."""
    return "php-fpm" if _POOL.search(text) and _FPM_KEY.search(text) else proxy


def apply_diff(text: str, diff: str, path: str) -> str:
    """``text`` with the hunks of ``diff`` for ``path`` applied, matching exactly (context and
    removed lines); the hunk may have moved (lines added above it) but must match once.

    A report shows credentials as ``[redacted]`` (``findings.redact``), in its diffs' context
    too: such a line matches the file's line that redacts to it (``same_line``), and the file's
    own line is what is kept -- a redacted line is never written.  A line the fix *adds* that was
    redacted cannot be rebuilt, so that diff is refused."""
    lines = split_lines(text)
    hunks = _hunks(diff, path)
    if not hunks:
        raise PatchError(f"the diff has no change for {path}")
    offset = 0
    for start, old, new, context in hunks:
        at = _find(lines, old, start - 1 + offset)
        if at is None:
            raise PatchError(f"{path}: the diff does not match the file at line {start} any more")
        real = lines[at:at + len(old)]
        for k, line in enumerate(new):
            if MARK not in line:
                continue
            origin = context[k]
            if origin is None:
                raise PatchError(f"{path}: a line this fix adds near line {start} was redacted in the "
                                 "report; make the report with --no-redact to apply it")
            new[k] = real[origin]
        lines[at:at + len(old)] = new
        offset += len(new) - len(old)
    return "".join(lines)


def _hunks(diff: str, path: str) -> list[tuple[int, list[str], list[str], list[int | None]]]:
    """``(first old line, old lines, new lines, context)`` of each hunk of ``diff`` for ``path``
    (``context[k]``: the index in old lines of new line ``k`` when it is a context line, else
    None); the counts in ``@@ -a,b +c,d @@`` say where a hunk ends (a removed line may start
    with ``--``)."""
    hunks: list[tuple[int, list[str], list[str], list[int | None]]] = []
    current: str | None = None
    old: list[str] = []
    new: list[str] = []
    context: list[int | None] = []
    left_old = left_new = 0
    last = ""
    for line in split_lines(diff):
        if left_old == 0 and left_new == 0:
            if line == NO_NEWLINE and hunks:
                _no_newline(last, hunks[-1][1], hunks[-1][2])
                continue
            if line.startswith("+++ "):
                current = path_of(line[4:].split("\t")[0].strip(), path)
                continue
            m = HUNK_HEAD.match(line)
            if m:
                left_old = int(m.group(2) or "1")
                left_new = int(m.group(4) or "1")
                start = int(m.group(1)) + (1 if left_old == 0 else 0)
                old, new, context = [], [], []
                if current == path:
                    hunks.append((start, old, new, context))
            continue
        if line == NO_NEWLINE:
            _no_newline(last, old, new)
            continue
        tag, body = line[:1], line[1:]
        if tag == " ":
            context.append(len(old))
            old.append(body)
            new.append(body)
            left_old -= 1
            left_new -= 1
        elif tag == "-":
            old.append(body)
            left_old -= 1
        elif tag == "+":
            context.append(None)
            new.append(body)
            left_new -= 1
        else:
            raise PatchError(f"not a unified diff line: {line[:40]!r}")
        last = tag
    return hunks


def _no_newline(last: str, old: list[str], new: list[str]) -> None:
    """``\\ No newline at end of file`` after a line: that line has no newline in the file."""
    if last in ("-", " ") and old:
        old[-1] = old[-1].removesuffix("\n")
    if last in ("+", " ") and new:
        new[-1] = new[-1].removesuffix("\n")


def _find(lines: list[str], old: list[str], guess: int) -> int | None:
    """Where ``old`` matches ``lines``: at ``guess`` first, else the one other place.  Lines
    with ``[redacted]`` in them match by ``same_line`` (the exact comparison otherwise)."""
    n = len(old)
    if any(MARK in line for line in old):
        def matches(i: int) -> bool:
            return all(same_line(real, shown) for real, shown in zip(lines[i:i + n], old))
    else:
        def matches(i: int) -> bool:
            return lines[i:i + n] == old
    if 0 <= guess <= len(lines) - n and matches(guess):
        return guess
    places = [i for i in range(len(lines) - n + 1) if matches(i)]
    return places[0] if len(places) == 1 else None
