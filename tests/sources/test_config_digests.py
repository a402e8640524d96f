"""A config's SHA-256 is taken from the bytes its reader read, once per run (issue 23 item 3).

A diagnose report pins each file a config fix changes by its digest (``fix.hashes``: ``why502
fix`` refuses a file edited since).  ``app.diagnose.report.with_hashes`` read each such file a
second time for it; ``parsers.configread`` now keeps the digest of what ``ConfigBudget.read``
read, for the run (``sources.once.run_inputs``), and gives it only while the file is unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from why502.parsers.configread import ConfigBudget, digest_read
from why502.sources.once import run_inputs


def test_the_digest_is_of_the_bytes_read_and_only_within_a_run(tmp_path: Path) -> None:
    conf = tmp_path / "haproxy.cfg"
    conf.write_bytes(b"defaults\n  timeout server 30s\n")
    ConfigBudget().read(str(conf))
    assert digest_read(str(conf)) is None  # outside a run nothing is kept
    with run_inputs():
        ConfigBudget().read(str(conf))
        assert digest_read(str(conf)) == hashlib.sha256(conf.read_bytes()).hexdigest()
        assert digest_read(str(tmp_path / "other.cfg")) is None
    assert digest_read(str(conf)) is None


def test_a_file_changed_since_it_was_read_has_no_kept_digest(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_bytes(b"Timeout 60\n")
    with run_inputs():
        ConfigBudget().read(str(conf))
        conf.write_bytes(b"Timeout 300\n")  # edited between the read and the report
        assert digest_read(str(conf)) is None
        ConfigBudget().read(str(conf))
        assert digest_read(str(conf)) == hashlib.sha256(b"Timeout 300\n").hexdigest()
        st = conf.stat()
        os.utime(conf, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched
        assert digest_read(str(conf)) is None
