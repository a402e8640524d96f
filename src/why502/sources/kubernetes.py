"""Read Kubernetes objects for ``diagnose --k8s``: a ``kubectl ... -o json`` dump (a file, or a
folder of them), or ``kubectl`` itself when the user says ``--k8s kubectl``.

Files go through ``sources.opening``'s bounded reader (each at most ``FILE_CAP`` bytes, all of
them at most ``TOTAL_CAP``); ``kubectl`` runs read-only (``get`` only), with a request timeout
and a wall-clock timeout, and only when asked: nothing here runs it on its own.  A named input
that cannot be read is an ``InputError`` (exit 3, like every named input); a file in the folder
that is not kubectl JSON, or the Gateway API kinds a cluster does not serve, are notes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from why502.errors import InputError
from why502.facts.kubernetes import KubeFacts
from why502.findings.model import Diagnostic
from why502.parsers.kubernetes import Parsed, parse_json
from why502.sources.opening import file_kind, open_capped_input

FILE_CAP = 64 << 20  # one dump of a big namespace's pods and events is a few MB
TOTAL_CAP = 256 << 20
KUBECTL = "kubectl"  # the word --k8s takes to mean "ask the cluster"
KUBECTL_TIMEOUT = 30.0
# what a 502 needs, read-only; the Gateway API's kinds are asked apart (a cluster without its
# CRDs refuses the whole request otherwise)
CORE_KINDS = "pods,endpointslices.discovery.k8s.io,services,events"
GATEWAY_KINDS = "gateways.gateway.networking.k8s.io,httproutes.gateway.networking.k8s.io"
_SUFFIXES = (".json", ".jsonl", ".txt", ".out")


@dataclass
class KubeRead:
    facts: KubeFacts = field(default_factory=KubeFacts)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


def read_kubernetes(path: str, namespace: str | None = None,
                    timeout: float = KUBECTL_TIMEOUT) -> KubeRead:
    """The objects of ``path`` (a file, a folder of files, or ``kubectl``)."""
    if path == KUBECTL:
        return _from_kubectl(namespace, timeout)
    kind = file_kind(path)
    if kind == "missing":
        raise InputError(f"cannot read {path} (--k8s): No such file or directory "
                         f"(or pass --k8s {KUBECTL} to ask the cluster)")
    files = _folder(path) if kind == "directory" else [path]
    parsed, total, read = Parsed(), 0, []
    for name in files:
        data = open_capped_input(name, FILE_CAP, "a kubectl JSON dump")
        total += len(data)
        if total > TOTAL_CAP:
            raise InputError(f"cannot read {path} (--k8s): over {TOTAL_CAP >> 20} MiB of dumps")
        parse_json(data.decode("utf-8", "replace"), name, parsed)
        read.append(name)
    out = KubeRead(facts=parsed.facts(tuple(read)), inputs=read)
    _notes(parsed, out)
    if not out.facts and kind != "directory":
        raise InputError(f"{path} (--k8s): no Pod, EndpointSlice, Service, Event or Gateway API "
                         "object in it (write it with kubectl get ... -o json)")
    return out


def _folder(path: str) -> list[str]:
    try:
        names = sorted(os.listdir(path))
    except OSError as err:
        raise InputError(f"cannot read {path} (--k8s): {err.strerror or err}") from None
    return [os.path.join(path, n) for n in names
            if n.endswith(_SUFFIXES) and file_kind(os.path.join(path, n)) == "regular"]


def _notes(parsed: Parsed, out: KubeRead) -> None:
    for problem in parsed.problems:
        out.diagnostics.append(Diagnostic("warning", problem, "kubernetes"))


def _from_kubectl(namespace: str | None, timeout: float) -> KubeRead:
    exe = shutil.which(KUBECTL)
    if exe is None:
        raise InputError("--k8s kubectl: kubectl is not installed (or save the objects with "
                         "kubectl get pods,endpointslices,services,events -A -o json > k8s.json "
                         "elsewhere and pass --k8s k8s.json)")
    scope = ["-n", namespace] if namespace else ["-A"]
    parsed, out = Parsed(), KubeRead(inputs=["kubectl"])
    for kinds, required in ((CORE_KINDS, True), (GATEWAY_KINDS, False)):
        argv = [exe, "get", kinds, *scope, "-o", "json", f"--request-timeout={int(timeout)}s"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout + 5, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise InputError(f"--k8s kubectl: kubectl get {kinds} did not answer in "
                             f"{timeout:.0f} s") from None
        if done.returncode != 0:
            why = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["failed"])[-1]
            if required:
                raise InputError(f"--k8s kubectl: kubectl get {kinds}: {why[:300]}")
            out.diagnostics.append(Diagnostic("info", f"kubectl get {kinds}: {why[:300]}",
                                              "kubernetes"))
            continue
        if len(done.stdout) > TOTAL_CAP:
            raise InputError(f"--k8s kubectl: over {TOTAL_CAP >> 20} MiB of objects "
                             "(name a namespace)")
        parse_json(done.stdout.decode("utf-8", "replace"), "kubectl", parsed)
    out.facts = parsed.facts(("kubectl",))
    _notes(parsed, out)
    return out
