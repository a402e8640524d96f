"""``why502 mitigate``: propose the stop-gaps that fit a diagnosis, make them with ``why502 fix``'s
transaction, revert them exactly, list what is in force.

The guards every path goes through (``_guard``): a server is taken out only when its own probe
fails *now* (``evidence.check``), and never when no other server of its group would still serve.
Config changes go through ``app.fix.run.apply`` (policy, lock on the file, hash check, backup,
journal, config test, reload, verify, rollback); HAProxy's runtime changes take ``fix``'s state
lock, are recorded before they are sent, verified (``show stat`` says MAINT, and the verify URLs
answer without 5xx) and set back when the verification fails.  There is no path without a
verification: ``--apply`` needs ``--verify-url`` and ``--verify-for`` above 0.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from why502.app.fix import journal, policy
from why502.app.fix import run as fixrun
from why502.app.fix.plan import from_report as fix_plan
from why502.app.fix.state import APPLIED, FINAL, locked
from why502.app.fix.verify import FAILING, Verdict, verify
from why502.app.mitigate import record
from why502.app.mitigate.evidence import Health, check
from why502.app.mitigate.model import Group, Member, Proposal, RuntimeApi, Stopgaps
from why502.errors import InputError, UsageError
from why502.findings.model import Report
from why502.findings.patch import unified_diff
from why502.findings.plan import Change, Plan
from why502.findings.results import MitigationPlan, StopGap
from why502.proxies import DEFAULT, PROXIES
from why502.proxies.base import resolve
from why502.textutil import strip_terminal_escapes

OK, LISTED, REFUSED = 0, 1, 3
SLOW = "backend-too-slow"


@dataclass
class Options:
    state_dir: Path
    config: str | None = None  # --config: the proxy's main config
    host_conf: str | None = None  # found on this host by a diagnosis run now
    proxy: str | None = None
    binary: str | None = None
    group: str | None = None
    servers: list[str] = field(default_factory=list)  # --server: only these (else every failing one)
    timeout: int | None = None  # --raise-timeout SECONDS
    verify_for: float = 10.0
    verify_urls: list[str] = field(default_factory=list)
    confirm: Callable[[Proposal], bool] | None = None


def _say(out: TextIO, text: str) -> None:
    out.write(strip_terminal_escapes(text) + "\n")
    out.flush()


def drivable() -> tuple[str, ...]:
    """The proxies ``mitigate`` drives (a ``Hooks.mitigate``), in the registry's order."""
    return tuple(name for name, p in PROXIES.items() if p.hooks.mitigate)


def stopgaps(proxy: str) -> Stopgaps:
    """The stop-gaps of the proxy called ``proxy`` (its ``Hooks.mitigate``); a ``UsageError``
    naming the proxies it drives for any other."""
    p = PROXIES.get(proxy)
    if p is None or not p.hooks.mitigate:
        titles = [PROXIES[n].vocabulary.long_title for n in drivable()]
        said = ", ".join(titles[:-1]) + " and " + titles[-1] if len(titles) > 1 else "".join(titles)
        raise UsageError(f"why502 mitigate drives {said}, not {proxy}")
    found = resolve(p.hooks.mitigate)
    if not isinstance(found, Stopgaps):
        raise TypeError(f"{p.hooks.mitigate} is not a Stopgaps")
    return found


def _runtime(proxy: str) -> RuntimeApi:
    api = stopgaps(proxy).runtime
    if api is None:
        raise InputError(f"{PROXIES[proxy].vocabulary.title} has no runtime API why502 drives")
    return api


# -- proposing -------------------------------------------------------------------------------------

def _finding_groups(report: Report | None, groups: list[Group]) -> tuple[set[str], set[str]]:
    """The groups the report's findings name (by group name or by a server's address), and the
    ones among them a ``backend-too-slow`` finding names."""
    named: set[str] = set()
    slow: set[str] = set()
    for f in report.findings if report else []:
        ref = (f.upstream or f.target or "").removeprefix("http://").removeprefix("https://")
        for g in groups:
            if ref and (ref == g.name or any(ref == m.address for m in g.members)):
                named.add(g.name)
                if f.cause == SLOW:
                    slow.add(g.name)
    return named, slow


def _guard(group: Group, chosen: list[Member], health: dict[str, Health]) -> str:
    """Why taking ``chosen`` out of ``group`` is not allowed ('' when it is): each must be failing
    by its own probe, and some other server of the group (a backup counts) must still serve."""
    for m in chosen:
        h = health.get(m.name)
        if h is None or not h.failing:
            return (f"{m.name} of {group.name} is not failing ({h.evidence if h else 'not probed'}): "
                    "not taken out")
    left = [m for m in group.members if not m.out and m not in chosen and not health[m.name].failing]
    if not left:
        return (f"taking out {', '.join(m.name for m in chosen)} would leave {group.name} with no serving "
                "server: refused (every server down is what the fallback is for: why502 mitigate "
                "without --server)")
    return ""


def propose(report: Report | None, proxy: str, conf: str, options: Options, mid: str) -> list[Proposal]:
    """The stop-gaps for ``conf`` (the policy's main config): per group the findings name (else
    every group), from a fresh probe of each server."""
    sg = stopgaps(proxy)
    cfg, groups = sg.groups(conf)
    title = PROXIES[proxy].vocabulary.title
    named, slow = _finding_groups(report, groups)
    if options.group:
        groups = [g for g in groups if g.name == options.group]
        if not groups:
            raise InputError(f"{conf} has no server group {options.group!r}")
    elif options.servers:
        groups = [g for g in groups
                  if any(s in (m.name, m.address) for m in g.members for s in options.servers)]
        if not groups:
            raise InputError(f"no server group of {conf} has {', '.join(options.servers)}")
    elif named:
        groups = [g for g in groups if g.name in named]
    out: list[Proposal] = []
    texts: dict[str, str] = {}
    for g in groups:
        health = {m.name: check(m.host, m.port, m.unix_path) for m in g.members if not m.out}
        failing = [m for m in g.members if not m.out and health[m.name].failing]
        if options.servers:
            chosen = [m for m in g.members if m.name in options.servers or m.address in options.servers]
            if any(m.out for m in chosen):
                raise InputError(f"{', '.join(m.name for m in chosen if m.out)} of {g.name} is already out "
                                 "of rotation")
        else:
            chosen = failing
        why_slow = g.name in slow
        if options.timeout is not None and not why_slow:
            raise InputError(f"no finding says {g.name} is slower than the proxy's timeout (diagnose's "
                             f"{SLOW}): its timeout is not raised")
        if why_slow and sg.timeout_raise is not None:
            seconds = options.timeout or 60
            p = Proposal("timeout", proxy, g.name, [],
                         f"{SLOW}: the backend answers later than {title} waits")
            p.response = sg.timeout_raise(cfg, texts, g.name, mid, seconds)
            out.append(p)
            continue
        if not chosen:
            continue
        evidence = [f"{m.name}: {health[m.name].evidence}" for m in g.members if m.name in health]
        if not options.servers and len(failing) == len(health):
            p = Proposal("fallback", proxy, g.name, [m.name for m in failing],
                         f"every server of {g.name} fails", evidence, addresses=[m.address for m in failing])
            if sg.fallback is not None:
                p.response = sg.fallback(cfg, texts, g.name, mid)
            else:
                p.refused = (f"every server of {g.name} fails and its config has no serving standby: "
                             f"a fallback for {proxy} is not automated yet; restart a backend")
            out.append(p)
            continue
        refused = _guard(g, chosen, health)
        p = Proposal("take-out", proxy, g.name, [m.name for m in chosen],
                     f"{len(chosen)} of {len(g.members)} servers of {g.name} failing while others serve",
                     evidence, refused=refused, addresses=[m.address for m in chosen])
        if not refused:
            if sg.take_out is not None:
                for m in chosen:
                    sg.take_out(texts, m, mid, health[m.name].evidence)
            else:
                p.runtime = [(g.name, m.name) for m in chosen]
        out.append(p)
    config_changes = [p for p in out if not p.refused and sg.runtime is None]
    if config_changes:  # one change set: every file the stop-gaps change, in one transaction
        config_changes[0].new_texts = texts
    return out


# -- showing ---------------------------------------------------------------------------------------

def plan_of(proposals: list[Proposal]) -> MitigationPlan:
    """What the user is shown of ``proposals`` before anything is done (the text reporter's
    ``reporters.text.mitigate``): each runtime call in the proxy's words, each file's diff from the
    file as it is now."""
    stopgaps = []
    for p in proposals:
        steps: list[str] = []
        diffs: list[str] = []
        if not p.refused:
            steps = [_runtime(p.proxy).describe(backend, server) for backend, server in p.runtime]
            if p.response:
                steps.append(("will serve: " if p.kind == "fallback" else "change: ") + p.response)
            for path, text in p.new_texts.items():
                try:
                    old = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
                except OSError:
                    old = ""
                diffs.append(unified_diff(old, text, path))
        stopgaps.append(StopGap(p.kind, p.proxy, p.group, list(p.servers), p.why, list(p.evidence),
                                p.refused, steps, diffs))
    return MitigationPlan(stopgaps)


# -- applying --------------------------------------------------------------------------------------

def _fallback_verifier(options: Options, mid: str) -> Callable[[], Verdict]:
    """The fallback answers 503 on purpose: a 502/503/504 passes only when it carries the
    fallback's ``X-Why502-Mitigation`` header (or comes from a backend that serves again)."""
    def judge() -> Verdict:
        verdict = Verdict(True)
        deadline = time.monotonic() + options.verify_for
        while True:
            for url in options.verify_urls:
                status, marker = _get(url)
                verdict.requests += 1
                if isinstance(status, str) or (status in FAILING and marker != mid):
                    return Verdict(False, f"GET {url} answered {status} without the fallback",
                                   verdict.requests)
            if time.monotonic() >= deadline:
                return verdict
            time.sleep(0.2)
    return judge


def _get(url: str) -> tuple[int | str, str]:
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("GET", parts.path or "/", headers={"User-Agent": "why502-mitigate-verify"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Why502-Mitigation") or ""
    except (OSError, http.client.HTTPException) as err:
        return str(err) or type(err).__name__, ""
    finally:
        conn.close()


@dataclass
class Prepared:
    """The stop-gaps proposed for one run, before any is made: ``plan`` is what the user is shown
    (rendered by the command), the rest what :func:`apply` makes of the chosen ones."""

    proxy: str
    conf: str
    mid: str
    proposals: list[Proposal]
    plan: MitigationPlan


def prepare(report: Report | None, options: Options, dry_run: bool) -> Prepared:
    """The stop-gaps for ``report`` on the proxy's config, and the plan the user is shown; a
    ``UsageError`` when ``--apply`` lacks what verifies it or no config is known."""
    if options.verify_for <= 0 and not dry_run:
        raise UsageError("a mitigation is always verified: --verify-for must be above 0")
    if not options.verify_urls and not dry_run:
        raise UsageError("a mitigation is always verified: give --verify-url URL (a page served through "
                         "the proxy)")
    said = report.inputs.get("proxy") if report else None
    proxy = options.proxy or (said if isinstance(said, str) and said in drivable() else DEFAULT)
    claimed = fix_plan(report, proxy).config if report else None
    conf, _source = policy.main_config(proxy, options.config, options.host_conf, claimed)
    if conf is None:
        raise UsageError("which config? give --config FILE (the proxy's main config)")
    mid = record.new_mitigation_id()
    proposals = propose(report, proxy, conf, options, mid)
    return Prepared(proxy, conf, mid, proposals, plan_of(proposals))


def apply(prepared: Prepared, options: Options, out: TextIO, dry_run: bool) -> int:
    """Make the chosen stop-gaps of ``prepared`` (whose plan the user has been shown): through
    the runtime API, or as one config change through ``fix``'s transaction; a dry run changes
    nothing.  A ``--server`` that is refused is an ``InputError``."""
    proxy, conf, mid, proposals = prepared.proxy, prepared.conf, prepared.mid, prepared.proposals
    if options.servers and any(p.refused for p in proposals):
        raise InputError(next(p.refused for p in proposals if p.refused))
    doable = [p for p in proposals if not p.refused]
    if dry_run or not doable:
        if doable:
            _say(out, "\ndry run: nothing changed (--apply makes these stop-gaps)")
        return LISTED if doable else OK
    chosen = [p for p in doable if options.confirm is None or options.confirm(p)]
    if not chosen:
        _say(out, "nothing applied")
        return OK
    _say(out, "")
    if stopgaps(proxy).runtime is not None:
        return _apply_runtime(chosen, proxy, conf, options, out, mid)
    return _apply_config(chosen, proxy, conf, options, out, mid)


def _record(chosen: list[Proposal], proxy: str, conf: str, mid: str) -> record.Mitigation:
    kinds = list(dict.fromkeys(p.kind for p in chosen))
    return record.Mitigation(mid, kinds[0], proxy, conf, ", ".join(dict.fromkeys(p.group for p in chosen)),
                             [s for p in chosen for s in p.servers], "; ".join(p.why for p in chosen),
                             journal.now(), addresses=[a for p in chosen for a in p.addresses])


def _apply_config(chosen: list[Proposal], proxy: str, conf: str, options: Options, out: TextIO,
                  mid: str) -> int:
    texts = {path: text for p in chosen for path, text in p.new_texts.items()}
    if not texts:
        _say(out, "nothing to apply")
        return OK
    changes = []
    m = _record(chosen, proxy, conf, mid)
    for path, text in texts.items():
        with open(path, "rb") as fh:
            old = fh.read()
        diff = unified_diff(old.decode("utf-8", "surrogateescape"), text, path)
        sha = hashlib.sha256(old).hexdigest()
        title = f"why502 mitigation {mid}: " + "; ".join(p.why for p in chosen)
        changes.append(Change(mid, title, path, diff, sha, hashes={path: sha}))
        m.undo_diffs[path] = unified_diff(text, old.decode("utf-8", "surrogateescape"), path)
    record.save(options.state_dir, m, record.APPLYING, "config change through why502 fix's transaction")
    verifier = _fallback_verifier(options, mid) if any(p.kind == "fallback" for p in chosen) else None
    fix_options = fixrun.ApplyOptions(
        state_dir=options.state_dir, config=options.config, host_conf=options.host_conf,
        binary=options.binary, proxy=proxy, verify_for=options.verify_for,
        verify_urls=list(options.verify_urls), verifier=verifier)
    try:
        rc = fixrun.apply(Plan(changes, config=conf, proxy=proxy), fix_options, out)
    except InputError as err:
        record.save(options.state_dir, m, record.FAILED, str(err))
        raise
    sets = [cs for cs in journal.load_all(options.state_dir)
            if cs.state == APPLIED and any(c.get("key") == mid for c in cs.changes)]
    if rc != OK or not sets:
        record.save(options.state_dir, m, record.FAILED, "not applied (rolled back)")
        _say(out, f"mitigation {mid} NOT in force")
        return rc or fixrun.FAILED
    m.change_set = sets[-1].id
    record.save(options.state_dir, m, record.IN_FORCE, f"change set {m.change_set}")
    _say(out, f"in force: mitigation {mid} (why502 mitigate --revert {mid} undoes it)")
    return OK


def _apply_runtime(chosen: list[Proposal], proxy: str, conf: str, options: Options, out: TextIO,
                   mid: str) -> int:
    api = _runtime(proxy)
    cfg = api.load(conf)
    m = _record(chosen, proxy, conf, mid)
    with locked(options.state_dir):
        sock = api.socket(cfg)
        m.runtime = [record.RuntimeStep(sock, b, s, api.back, api.out) for p in chosen for b, s in p.runtime]
        record.save(options.state_dir, m, record.APPLYING, "runtime API, recorded before it is sent")
        for step in m.runtime:
            api.set_state(sock, step.backend, step.server, step.after)
            _say(out, f"runtime API: set server {step.backend}/{step.server} state {step.after}: done "
                      "(no reload, config unchanged)")
        why = ""
        for step in m.runtime:
            status = api.state(cfg, step.backend, step.server) or "?"
            if not status.startswith(api.shown_out):
                why = f"{step.backend}/{step.server} is {status}, not {api.shown_out}, after the command"
        if not why:
            _say(out, f"verifying for {options.verify_for:g} s ({', '.join(options.verify_urls)})")
            verdict = verify({}, set(), options.verify_urls, options.verify_for)
            why = "" if verdict.ok else verdict.reason
            if verdict.ok:
                _say(out, f"verified: {verdict.requests} request(s), no 5xx")
        if why:
            _say(out, f"FAILED: {why}")
            for step in reversed(m.runtime):
                api.set_state(sock, step.backend, step.server, step.before)
                _say(out, f"rolled back: set server {step.backend}/{step.server} state {step.before}")
            record.save(options.state_dir, m, record.FAILED, why)
            return fixrun.FAILED
        record.save(options.state_dir, m, record.IN_FORCE)
    _say(out, f"in force: mitigation {mid} (why502 mitigate --revert {mid} undoes it)")
    return OK


# -- revert and list -------------------------------------------------------------------------------

def revert(state_dir: Path, out: TextIO, mid: str | None, verify_urls: list[str] | None = None) -> int:
    """Undo mitigation ``mid`` (default the last in force): fix's undo of its change set (bytes,
    mode, owner, xattrs; the config test; the reload), or the runtime state set back."""
    in_force = [m for m in record.load_all(state_dir) if m.state in (record.IN_FORCE, record.APPLYING)]
    if mid:
        found = [m for m in in_force if m.id == mid]
        if not found:
            raise InputError(f"no mitigation {mid} in force in {state_dir} (why502 mitigate --list)")
    elif not in_force:
        _say(out, f"nothing to revert: no mitigation in force in {state_dir}")
        return OK
    m = found[-1] if mid else in_force[-1]
    if not m.runtime and not m.change_set:  # killed between fix's apply and this record's update
        applied = [cs for cs in journal.load_all(state_dir) if any(c.get("key") == m.id for c in cs.changes)]
        m.change_set = applied[-1].id if applied else None
    if m.runtime:
        api = _runtime(m.proxy)
        with locked(state_dir):
            for step in reversed(m.runtime):
                api.set_state(step.socket, step.backend, step.server, step.before)
                _say(out, f"runtime API: set server {step.backend}/{step.server} state {step.before}: done")
    elif m.change_set:
        rc = _revert_config(state_dir, m, out, verify_urls)
        if rc != OK:
            return rc
    record.save(state_dir, m, record.REVERTED)
    _say(out, f"reverted: mitigation {m.id} ({m.kind}, {m.group}: {', '.join(m.servers) or '-'})")
    return OK


def _revert_config(state_dir: Path, m: record.Mitigation, out: TextIO, verify_urls: list[str] | None) -> int:
    """Exactly the bytes before (fix's undo of the change set) while the files still hold what
    the mitigation wrote; once another change was made to them since (``why502 fix`` after the
    mitigation: the 3 a.m. flow), only the mitigation's own lines are taken out again, as a new
    change set of fix's transaction whose diff must match the file exactly (else refused)."""
    sets = {cs.id: cs for cs in journal.load_all(state_dir)}
    cs = sets.get(m.change_set or "")
    if cs is None or cs.state not in FINAL:
        raise InputError(f"mitigation {m.id}: its change set {m.change_set} is "
                         f"{cs.state if cs else 'missing'}: not reverted (why502 fix --list recovers an "
                         "interrupted one)")
    if cs.state != APPLIED:  # undone (fix --undo), rolled back or recovered: nothing left to revert
        return OK
    unchanged = True
    for rec in cs.files:
        try:
            with open(rec.path, "rb") as fh:
                unchanged = unchanged and hashlib.sha256(fh.read()).hexdigest() == rec.after
        except OSError as err:
            raise InputError(f"{rec.path}: {err.strerror or err}: not reverted") from None
    if unchanged:
        return fixrun.undo(state_dir, out, change_set=cs.id)
    _say(out, f"the config changed since mitigation {m.id} (a fix?): taking out only its own lines")
    changes = []
    for path, diff in m.undo_diffs.items():
        with open(path, "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        changes.append(Change(f"{m.id}-revert", f"revert why502 mitigation {m.id}", path, diff, sha,
                              hashes={path: sha}))
    urls = list(verify_urls or [])
    options = fixrun.ApplyOptions(state_dir=state_dir, config=m.config, proxy=m.proxy,
                                  verify_for=10.0 if urls else 0.0, verify_urls=urls)
    return fixrun.apply(Plan(changes, config=m.config, proxy=m.proxy), options, out)


def listing(state_dir: Path, out: TextIO) -> int:
    every = record.load_all(state_dir)
    now = [m for m in every if m.state in (record.IN_FORCE, record.APPLYING)]
    if not now:
        _say(out, f"no mitigation in force ({len(every)} in the past, in {state_dir / record.DIRECTORY})")
    for m in now:
        state = "" if m.state == record.IN_FORCE else " (interrupted while applying: check it, then revert)"
        servers = ", ".join(m.servers) or "-"
        _say(out, f"{m.id}  {m.kind}{state}  {m.proxy} {m.group}: {servers}  since {m.since}")
        _say(out, f"    why: {m.why}")
        how = (f"runtime API ({len(m.runtime)} server(s) in maint; config unchanged)" if m.runtime
               else f"config change set {m.change_set}")
        _say(out, f"    how: {how}; undo: why502 mitigate --revert {m.id}")
        if m.addresses:
            failing, detail = health_now(m)
            _say(out, "    now: " + detail + ("" if failing else f": once that has held a while, "
                                                           f"why502 mitigate --revert {m.id}"))
    return OK


def health_now(m: record.Mitigation) -> tuple[bool, str]:
    """Do the servers it took out answer again (the same probe that judged them failing)?
    (still failing?, what to say)"""
    failing = []
    for address in m.addresses:
        if address.startswith(("unix:", "unix@")):
            health = check(None, None, address.split(":", 1)[-1].split("@", 1)[-1])
        else:
            host, _, port = address.rpartition(":")
            health = check(host.strip("[]") or None, int(port) if port.isdigit() else None)
        if health.failing:
            failing.append(health.evidence)
    if failing:
        return True, "still failing: " + "; ".join(failing)
    return False, "every server it took out answers again"
