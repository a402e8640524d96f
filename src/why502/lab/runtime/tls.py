"""Self-signed certificates for the TLS scenarios, made with the openssl CLI in the stack's dir.

The TLS failures nginx logs (a handshake that fails, a certificate that does not verify) need a
real certificate on the backend and, for the verify error, an unrelated one as the trust anchor.
Both are cached under ``assets/`` of the stack and disappear with it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from why502.lab.runtime.errors import LabError, LabSkip


def make_cert(cert: Path, key: Path, cn: str) -> None:
    """``openssl req -x509``: a 2-day self-signed RSA certificate for ``cn``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LabSkip("openssl CLI is not installed (needed for the TLS scenarios)")
    res = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", f"/CN={cn}"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if res.returncode != 0:
        raise LabError(f"openssl req failed: {res.stderr.strip()[-300:]}")


def backend_cert(assets: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` (cached in ``assets``): (cert, key)."""
    cert, key = assets / "backend.crt", assets / "backend.key"
    if not cert.exists():
        make_cert(cert, key, "localhost")
    return cert, key


def unrelated_ca(assets: Path) -> Path:
    """A second, unrelated self-signed certificate to use as a (wrong) trust anchor."""
    cert, key = assets / "other-ca.crt", assets / "other-ca.key"
    if not cert.exists():
        make_cert(cert, key, "why502 lab unrelated CA")
    return cert
