"""A PHP-FPM config file is read once however it is reached, so its warning is said once
(issue 27, class 7: one FPM warning was shown 6 times)."""

from __future__ import annotations

from pathlib import Path

from tests.support.clirun import why502
from why502.sources.fpm import load_fpm_config


def _fpm(tmp_path: Path) -> tuple[Path, Path]:
    pool_d = tmp_path / "pool.d"
    pool_d.mkdir()
    main = tmp_path / "php-fpm.conf"
    main.write_text(f"[global]\nerror_log = {tmp_path}/fpm.log\ninclude={pool_d}/*.conf\n"
                    f"include={pool_d}/www*.conf\n")  # two patterns that overlap, as seen in the field
    www = pool_d / "www.conf"
    www.write_text("[www]\nlisten = /run/php/x.sock\nthis is not a setting\n"
                   "pm = static\npm.max_children = 5\n")
    return main, www


def test_overlapping_roots_and_includes_read_each_file_once(tmp_path: Path) -> None:
    main, www = _fpm(tmp_path)
    fpm = load_fpm_config([str(main), str(www), str(www.parent), str(tmp_path)])
    assert [p.name for p in fpm.pools] == ["www"]
    warnings = [d.message for d in fpm.diagnostics if "cannot parse line" in d.message]
    assert len(warnings) == 1, fpm.diagnostics
    assert sorted(fpm.files) == sorted({str(main), str(www)})


def test_lint_says_the_warning_once(tmp_path: Path) -> None:
    main, www = _fpm(tmp_path)
    (tmp_path / "nginx").mkdir()
    conf = tmp_path / "nginx" / "nginx.conf"  # not a *.conf of the FPM directory given
    conf.write_text("events {}\nhttp { server { listen 80;\n"
                    "  location / { proxy_pass http://127.0.0.1:8080; } } }\n")
    res = why502("lint", "--config", str(conf), "--fpm-conf", str(main), "--fpm-conf", str(www),
                 "--fpm-conf", str(tmp_path))
    assert res.stdout.count("cannot parse line") == 1, res.stdout
