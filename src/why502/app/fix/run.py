"""``why502 fix``: plan, and with ``--apply`` a transaction — lock, check, back up, journal,
write, test, reload, verify, or roll back; ``--undo``, ``--list`` and crash recovery.

The order is the safety argument:

0. what may be written is the config of the running proxy or of the command line, never the
   report's say-so (``policy``); every read and write of a config goes through one ``Writer``
   that refuses other files, locks each file before reading it and writes through links;
1. nothing is written unless every file still has the bytes the report was made from (SHA-256,
   checked under the file's lock) and can be written by this user (exit 3, nothing touched);
2. backups and the journal are on disk (fsynced) before the first config byte changes, so a run
   killed at any later point is rolled back by the next one (:func:`recover`);
3. files are replaced atomically (``atomic``), then the proxy's own checker tests the whole
   config; a failure restores the backups before any reload — the running proxy never saw it;
   the proxy is data: its fix service (``Hooks.fix_service``, ``proxies/<name>/fix.py``, found
   by ``service.service_class``) gives its config test, files, master and reload;
4. after the reload the new workers are watched (``verify``); a failure restores, reloads again
   and checks that the proxy still serves.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from why502.app.fix import journal, policy
from why502.app.fix.atomic import FileMeta, read_meta, sha256_bytes
from why502.app.fix.backup import backup, restore
from why502.app.fix.plan import PatchError, apply_diff, file_kind
from why502.app.fix.service import (
    Outcome,
    PhpFpm,
    ProxyService,
    children,
    find_binary,
    fixable,
    service_class,
)
from why502.app.fix.state import (
    APPLIED,
    FINAL,
    RECOVERED,
    RELOADING,
    ROLLED_BACK,
    STARTED,
    UNDONE,
    WRITING,
    WRITTEN,
    ChangeSet,
    FileRecord,
    current_user,
    locked,
)
from why502.app.fix.verify import Verdict, log_offsets, request, verify
from why502.app.fix.writer import Writer
from why502.errors import InputError, UsageError
from why502.facts.probes import ProbeTarget
from why502.findings.patch import files_of
from why502.findings.plan import Change, Plan
from why502.textutil import strip_terminal_escapes

OK, FAILED, REFUSED = 0, 1, 3


@dataclass
class ApplyOptions:
    state_dir: Path
    config: str | None = None  # the proxy's main config (nginx, haproxy or apache), as named
    host_conf: str | None = None  # the main config this run found on this host (lint, fresh diagnose)
    binary: str | None = None  # the proxy's binary
    proxy: str | None = None  # a proxy with a fix service (service.fixable); None: the plan's
    fpm_conf: str | None = None
    fpm_bin: str | None = None
    reload: bool = True
    verify_for: float = 10.0
    verify_urls: list[str] = field(default_factory=list)
    confirm: Callable[[Change], bool] | None = None  # None: every change (--yes)
    # the verification step, when a change is judged otherwise than "no 5xx" (why502 mitigate's
    # fallback answers 503 on purpose); None: ``verify`` (the verify URLs and the error log)
    verifier: Callable[[], Verdict] | None = None


@dataclass
class Services:
    proxy: ProxyService | None
    fpm: PhpFpm | None


def _say(out: TextIO, text: str) -> None:
    out.write(strip_terminal_escapes(text) + "\n")
    out.flush()


def services(cs: ChangeSet) -> Services:
    make = service_class(cs.proxy)
    proxy = make(cs.binary, cs.config) if make and cs.binary and cs.config else None
    fpm = PhpFpm(cs.fpm_bin, cs.fpm_conf) if cs.fpm_bin and cs.fpm_conf else None
    return Services(proxy, fpm)


# -- planning against the files as they are now ----------------------------------------------------

def _new_contents(changes: list[Change], writer: Writer) -> tuple[dict[str, tuple[bytes, bytes]], list[str]]:
    """``{path: (bytes now, bytes after every change)}``, each file read under its lock;
    refuses (exit 3) on a file outside the writer's scope, changed since the report or not
    writable."""
    texts: dict[str, tuple[bytes, bytes]] = {}
    notes: list[str] = []
    paths = list(dict.fromkeys(p for ch in changes for p in files_of(ch.diff, ch.file)))
    for path in sorted(paths, key=os.path.realpath):  # one order: two runs cannot wait for each other
        writer.lock(path)
    for ch in changes:
        for path in files_of(ch.diff, ch.file):
            now = writer.read(path)
            expected = ch.hashes.get(path) or (ch.expected_sha256 if path == ch.file else None)
            if expected and sha256_bytes(now) != expected and path not in texts:
                raise InputError(f"{path} changed since the report was made (its SHA-256 differs): "
                                 "nothing applied; run diagnose again")
            before, current = texts.get(path, (now, now))
            try:
                new = apply_diff(current.decode("utf-8", "surrogateescape"), ch.diff, path)
            except PatchError as err:
                if ch.expected_sha256 is None:
                    raise InputError(f"{err}: nothing applied") from None
                notes.append(f"{ch.key}: skipped, {err}")
                continue
            texts[path] = (before, new.encode("utf-8", "surrogateescape"))
    for path in texts:
        directory = os.path.dirname(os.path.realpath(path))  # a link is written through
        if not os.access(path, os.W_OK) or not os.access(directory, os.W_OK):
            raise InputError(f"{path}: permission denied (writing it needs write access to the file "
                             f"and to {directory}): nothing applied")
    return texts, notes


def _checkers(texts: dict[str, tuple[bytes, bytes]], options: ApplyOptions, proxy: str,
              config: str | None, binary: str | None, svc: type[ProxyService]) -> str | None:
    """php-fpm's binary when a pool changes; refuses when a checker the change needs is missing."""
    kinds = {file_kind(new.decode("utf-8", "replace"), proxy) for _, new in texts.values()}
    fpm_bin = None
    if "php-fpm" in kinds:
        fpm_bin = options.fpm_bin or find_binary("php-fpm", *[f"php-fpm{v}" for v in
                                                              ("8.4", "8.3", "8.2", "8.1", "8.0", "7.4")])
        if not options.fpm_conf or not fpm_bin:
            raise UsageError("a PHP-FPM pool change needs --fpm-conf (the main php-fpm.conf) and php-fpm "
                             "installed, to test it with php-fpm -t before it is applied")
    if proxy in kinds and (not binary or not config):
        raise UsageError(f"a {proxy} change needs {svc.binaries[0]} installed and the main config "
                         f"(--config) to test it with {svc.label} before it is applied")
    return fpm_bin


# -- the transaction -----------------------------------------------------------------------------

def apply(plan: Plan, options: ApplyOptions, out: TextIO) -> int:
    """Apply ``plan``; 0 applied (and verified), 1 failed and rolled back, 3 refused."""
    proxy = options.proxy or plan.proxy
    make = service_class(proxy)
    if make is None:
        from why502.proxies import PROXIES

        if proxy in PROXIES:  # a proxy why502 reads whose config fix does not change (yet)
            p = PROXIES[proxy]
            steps = " then ".join(p.reload_commands(options.config or plan.config))
            raise InputError(f"fix does not change {p.vocabulary.title}'s config: apply the diff "
                             f"above by hand, then {steps}")
        raise UsageError(f"unknown proxy {proxy!r} ({', '.join(fixable())})")
    if not plan.changes:
        _say(out, "nothing to apply")
        return OK
    # before any question: a report's config that no running proxy uses is refused
    config, source = policy.main_config(proxy, options.config, options.host_conf, plan.config)
    chosen = [c for c in plan.changes if options.confirm is None or options.confirm(c)]
    if not chosen:
        _say(out, "nothing to apply")
        return OK
    binary = options.binary or find_binary(*make.binaries)
    scope = policy.scope(proxy, binary, config, source, options.fpm_conf)
    with locked(options.state_dir), scope.writer(lambda m: _say(out, m)) as writer:
        for msg in recover(options.state_dir):
            _say(out, msg)
        texts, notes = _new_contents(chosen, writer)
        for n in notes:
            _say(out, n)
        texts = {p: t for p, t in texts.items() if t[0] != t[1]}
        if not texts:
            _say(out, "nothing to apply: every change is already in place")
            return OK
        fpm_bin = _checkers(texts, options, proxy, config, binary, make)
        cs = ChangeSet(journal.new_id(), journal.now(), STARTED, os.getpid(),
                       changes=[{"key": c.key, "title": c.title, "file": c.file} for c in chosen],
                       config=config, binary=binary,
                       fpm_conf=options.fpm_conf, fpm_bin=fpm_bin, proxy=proxy, user=current_user())
        directory = options.state_dir / cs.id
        directory.mkdir(parents=True, mode=0o700)
        for i, (path, (before, after)) in enumerate(texts.items()):
            meta = read_meta(path)
            cs.files.append(FileRecord(
                path, sha256_bytes(before), sha256_bytes(after), meta.mode, meta.uid, meta.gid,
                {k: v.hex() for k, v in meta.xattrs.items()}, backup(path, before, meta, directory, i),
                file_kind(before.decode("utf-8", "replace"), proxy)))
        journal.save(options.state_dir, cs, STARTED, f"backups in {directory}")
        targets = list(dict.fromkeys(t for c in chosen for t in c.targets))
        return _transact(cs, texts, options, out, targets, writer)


def _meta(rec: FileRecord) -> FileMeta:
    return FileMeta(rec.mode, rec.uid, rec.gid, {k: bytes.fromhex(v) for k, v in rec.xattrs.items()})


def _transact(cs: ChangeSet, texts: dict[str, tuple[bytes, bytes]], options: ApplyOptions,
              out: TextIO, targets: list[ProbeTarget], writer: Writer) -> int:
    state_dir = options.state_dir
    journal.save(state_dir, cs, WRITING)
    for rec in cs.files:
        try:
            writer.write(rec.path, texts[rec.path][1], _meta(rec))
        except OSError as err:
            msg = f"{rec.path}: {err.strerror or err}: nothing written"
            _rollback(cs, options, out, msg, writer, reload=False)
            raise InputError(msg) from None
        rec.written = True
        journal.save(state_dir, cs)
        _say(out, f"wrote {rec.path} (backup {rec.backup})")
    journal.save(state_dir, cs, WRITTEN)
    svc = services(cs)
    kinds = {r.kind for r in cs.files}
    for tester in (svc.proxy, svc.fpm):
        if tester is None or (tester is svc.fpm and "php-fpm" not in kinds):
            continue
        label = tester.label if tester is svc.proxy and svc.proxy is not None else "php-fpm -t"
        res = tester.test()
        if not res.ok:
            why = f"{label} rejected the change:\n{res.message}"
            return _rollback(cs, options, out, why, writer, reload=False)
        _say(out, f"{label}: configuration test passed")
    if not options.reload:
        journal.save(state_dir, cs, APPLIED, "written and tested; not reloaded (--no-reload)")
        _say(out, f"applied (not reloaded): change set {cs.id}; reload yourself, or why502 fix --undo")
        return OK
    offsets = log_offsets(svc.proxy.error_logs() if svc.proxy else [])
    master = svc.proxy.master() if svc.proxy else None
    old_workers = children(master) if master else set()
    journal.save(state_dir, cs, RELOADING)
    cs.reloaded = True
    for srv in (svc.proxy, svc.fpm):
        if srv is None or (srv is svc.fpm and "php-fpm" not in kinds):
            continue
        res = srv.reload()
        if not res.ok:
            return _rollback(cs, options, out, f"reload failed: {res.message}", writer, reload=True)
        _say(out, f"reloaded: {res.message}")
    if options.verify_for > 0:
        _say(out, f"verifying for {options.verify_for:g} s"
             + (f" ({', '.join(options.verify_urls)})" if options.verify_urls else " (new error-log lines)"))
        verdict = (options.verifier() if options.verifier is not None
                   else verify(offsets, old_workers, options.verify_urls, options.verify_for, targets))
        if verdict.probed:
            _say(out, f"  probed {verdict.probed} backend(s) of the finding again")
        if verdict.ok and not verdict.requests and not verdict.lines_read and not verdict.probed:
            _say(out, "  nothing was served to judge (no --verify-url, no new error-log line): only the "
                      "config test and the reload vouch for this change")
        if verdict.ignored_old_workers:
            _say(out, f"  {verdict.ignored_old_workers} error-log line(s) of the old workers ignored "
                      "(requests begun before the reload)")
        if not verdict.ok:
            return _rollback(cs, options, out, f"verification failed: {verdict.reason}", writer, reload=True)
        _say(out, f"verified: {verdict.requests} request(s), no 5xx from the new configuration")
    journal.save(state_dir, cs, APPLIED)
    _say(out, f"applied: change set {cs.id} (why502 fix --undo restores it)")
    return OK


def _restore_files(cs: ChangeSet, writer: Writer) -> list[str]:
    """Put every file this change set wrote back from its backup, under its lock; what was
    restored.  A file that holds neither the bytes before nor the bytes this run wrote, although
    the journal says the write had finished, was changed by someone else since: it is left as it
    is (and said so) rather than losing their change."""
    done: list[str] = []
    for rec in cs.files:
        current = sha256_bytes(writer.read(rec.path))
        if current == rec.before:
            pass
        elif current == rec.after or not rec.written:
            restore(writer, rec.path, rec.backup, _meta(rec))
            done.append(rec.path)
        else:
            done.append(f"not {rec.path} (changed by someone else since; its backup is {rec.backup})")
        rec.written = False
    return done


def _reload_all(cs: ChangeSet) -> list[Outcome]:
    svc = services(cs)
    kinds = {r.kind for r in cs.files}
    res: list[Outcome] = []
    if svc.proxy is not None:
        res.append(svc.proxy.reload())
    if svc.fpm is not None and "php-fpm" in kinds:
        res.append(svc.fpm.reload())
    return res


def _rollback(cs: ChangeSet, options: ApplyOptions, out: TextIO, why: str, writer: Writer, *,
              reload: bool) -> int:
    _say(out, f"FAILED: {why}")
    try:
        restored = _restore_files(cs, writer)
    except OSError as err:
        # The journal stays unfinished, so the next why502 fix run retries the restore.
        backups = ", ".join(f"{r.path} <- {r.backup}" for r in cs.files)
        raise InputError(f"RESTORE FAILED: {err.strerror or err} ({err.filename}); "
                         f"backups: {backups}; the next why502 fix run retries") from None
    _say(out, "restored from backup: " + (", ".join(restored) or "nothing had been written"))
    if reload:
        for res in _reload_all(cs):
            _say(out, ("reloaded the old configuration: " if res.ok else "RELOAD FAILED: ") + res.message)
        for url in options.verify_urls:
            status = request(url, timeout=30)
            _say(out, f"after rollback: GET {url} -> {status}")
    journal.save(options.state_dir, cs, ROLLED_BACK, why.splitlines()[0])
    return FAILED


# -- crash recovery, undo, history ---------------------------------------------------------------

def recover(state_dir: Path) -> list[str]:
    """Roll back every change set a killed run left unfinished (called under the lock)."""
    msgs: list[str] = []
    for cs in journal.load_all(state_dir):
        if cs.state in FINAL:
            continue
        with policy.recorded(cs).writer() as writer:
            restored = _restore_files(cs, writer)
        note = f"change set {cs.id} was interrupted at '{cs.state}' (pid {cs.pid}): restored " + (
            ", ".join(restored) or "nothing (no file had changed)")
        if cs.state == RELOADING or (cs.reloaded and restored):
            for res in _reload_all(cs):
                note += f"; {'reloaded' if res.ok else 'reload FAILED'}: {res.message}"
        journal.save(state_dir, cs, RECOVERED, note)
        msgs.append("recovered: " + note)
    return msgs


def undo(state_dir: Path, out: TextIO, *, reload: bool = True, change_set: str | None = None) -> int:
    """Restore the last applied change set of this user (``state.current_user``; a journal of
    before 0.2 names no user and counts as this user's) or the one named ``change_set`` (``fix
    --undo ID``, ``why502 mitigate --revert``); refuses when a file changed since it was applied.
    A named change set that is not applied here is an ``InputError`` (exit 3): "nothing to undo",
    exit 0, read as success by a script that undid nothing (issue 31)."""
    with locked(state_dir):
        for msg in recover(state_dir):
            _say(out, msg)
        every = journal.load_all(state_dir)
        if change_set is not None:
            named = [cs for cs in every if cs.id == change_set]
            if not named:
                raise InputError(f"no change set {change_set} in {state_dir} (why502 fix --list shows them)")
            if named[-1].state != APPLIED:
                raise InputError(f"change set {change_set} is {named[-1].state}, not applied: nothing undone")
            applied = named
        else:
            me = current_user()
            applied = [cs for cs in every if cs.state == APPLIED and cs.user in (None, me)]
            others = sum(1 for cs in every if cs.state == APPLIED and cs.user not in (None, me))
            if not applied:
                _say(out, f"nothing to undo: no applied change set of {me} in {state_dir}"
                     + (f" ({others} of other users: name one with --undo ID)" if others else ""))
                return OK
        cs = applied[-1]
        with policy.recorded(cs).writer(lambda m: _say(out, m)) as writer:
            for rec in sorted(cs.files, key=lambda r: os.path.realpath(r.path)):
                writer.lock(rec.path)
            for rec in cs.files:
                if sha256_bytes(writer.read(rec.path)) != rec.after:
                    raise InputError(f"{rec.path} changed since change set {cs.id} was applied: not undone "
                                     f"(its backup is {rec.backup})")
                directory = os.path.dirname(os.path.realpath(rec.path))
                if not os.access(rec.path, os.W_OK) or not os.access(directory, os.W_OK):
                    raise InputError(f"{rec.path}: permission denied: not undone")
            restored = _restore_files(cs, writer)
        _say(out, "restored: " + ", ".join(restored))
        svc = services(cs)
        if svc.proxy is not None:
            res = svc.proxy.test()
            _say(out, f"{svc.proxy.label}: " + ("configuration test passed" if res.ok else res.message))
        if reload and cs.reloaded:
            for res in _reload_all(cs):
                _say(out, ("reloaded: " if res.ok else "RELOAD FAILED: ") + res.message)
        journal.save(state_dir, cs, UNDONE)
        _say(out, f"undone: change set {cs.id}")
        return OK


def history(state_dir: Path, out: TextIO) -> int:
    """``--list``: every change set, oldest first (recovering an interrupted one first, unless
    another run holds the lock: its change set is then listed as it is)."""
    try:
        with locked(state_dir):
            for msg in recover(state_dir):
                _say(out, msg)
    except journal.DamagedJournalError:
        raise
    except InputError as err:  # another run holds the lock
        _say(out, f"note: {err}")
    sets = journal.load_all(state_dir)
    if not sets:
        _say(out, f"no change set in {state_dir}")
    for cs in sets:
        _say(out, f"{cs.id}  {cs.state:<11}  {cs.created}")
        for ch in cs.changes:
            _say(out, f"    {ch.get('key', '')}: {ch.get('title', '')}  ({ch.get('file', '')})")
        for line in cs.history[-1:]:
            _say(out, f"    last: {line}")
    return OK
