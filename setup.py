"""The optional C extensions (everything else about the package is in pyproject.toml).

``why502.proxies.nginx._scan``, nginx's native line scanner, makes ``why502 classify`` several
times faster on nginx error logs (driven by ``why502.parsers.errorlog_native``, which the registry
hands it to: ``Hooks.native_scanner``) and cuts nginx access lines for ``stats``;
``why502.parsers.lblogs._albscan`` cuts and decides AWS ALB entries for the ALB reader and
``why502.parsers.lblogs._jsonscan`` pulls the read keys out of JSON log lines for the JSON
readers (``parsers/lblogs/batch.py``); ``why502.proxies.haproxy._hapscan`` cuts HAProxy's httplog
lines for its stats reader (``proxies/haproxy/stats.py``); ``why502.proxies.envoy._envoyscan`` counts
Envoy's text access-log lines for ``watch`` (``proxies/envoy/textcount.py``);
``why502.proxies.apache._apachescan`` groups httpd's error lines by key for ``watch``'s memo
(``proxies/apache/error_memo.py``); ``why502.proxies.traefik._traefikscan`` cuts Traefik's
common-format access lines for its block reader (``proxies/traefik/frame.py``), as
``_envoyscan`` also cuts Envoy's text lines for Envoy's (``proxies/envoy/frame.py``);
``why502.sources._unframe`` reads docker's and CRI runtimes' framed lines as the program's
(``sources/unframe.py``); ``why502.parsers._needles`` finds which of the rules' literals a line
holds for the per-line recogniser (``parsers/needles.py``).  The column passes share
``src/why502/native/arrow_buf.h`` (their columns handed to polars).  They are optional: without a C compiler or Python's headers (Debian:
``apt-get install gcc python3-dev``) the build skips them with a warning and why502 runs the
same, on its polars readers.
"""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
_SHARED = "src/why502/native"


def _native(module: str, *headers: str, libraries: tuple[str, ...] = ()) -> Extension:
    """One optional extension: ``why502.x._y`` from ``src/why502/x/_y.c``, rebuilt when one of the
    ``headers`` it includes changes."""
    return Extension(module, sources=[f"src/{module.replace('.', '/')}.c"], include_dirs=[_SHARED],
                     depends=list(headers), extra_compile_args=_FLAGS, libraries=list(libraries),
                     optional=True)


_ARROW, _GROUPS, _ANSWERS = f"{_SHARED}/arrow_buf.h", f"{_SHARED}/group_table.h", f"{_SHARED}/answers.h"
_UNWRAP, _JSON = f"{_SHARED}/unwrap_ascii.h", f"{_SHARED}/json_text.h"

setup(ext_modules=[
    _native("why502.proxies.nginx._scan", _ARROW, _GROUPS, _UNWRAP, _JSON,
            "src/why502/proxies/nginx/_scan_wrappers.h",
            "src/why502/proxies/nginx/_scan_access.h", "src/why502/proxies/nginx/_scan_columns.h",
            "src/why502/proxies/nginx/_scan_fold.h"),
    _native("why502.parsers.lblogs._albscan", _ARROW, _GROUPS, _ANSWERS, libraries=("m",)),
    _native("why502.parsers.lblogs._jsonscan", _ARROW, _GROUPS, _ANSWERS, _UNWRAP, libraries=("m",)),
    _native("why502.proxies.haproxy._hapscan", _ARROW, _GROUPS, _UNWRAP, _JSON),
    _native("why502.proxies.envoy._envoyscan", _ARROW, _GROUPS, _ANSWERS, _UNWRAP),
    _native("why502.proxies.apache._apachescan", _ARROW, _GROUPS),
    _native("why502.proxies.traefik._traefikscan", _ARROW, _GROUPS, _ANSWERS),
    _native("why502.sources._lines"),
    _native("why502.sources._unframe"),
    _native("why502.parsers._needles"),
])
