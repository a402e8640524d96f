"""The optional C extension (everything else about the package is in pyproject.toml).

``why502.proxies.nginx._scan``, nginx's native line scanner, makes ``why502 classify`` several
times faster on nginx error logs (driven by ``why502.parsers.errorlog_native``, which the registry
hands it to: ``Hooks.native_scanner``).  It is optional: without a C compiler or Python's
headers (Debian: ``apt-get install gcc python3-dev``) the build skips it with a warning and
why502 runs the same, on its polars engine.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "why502.proxies.nginx._scan",
    sources=["src/why502/proxies/nginx/_scan.c"],
    depends=["src/why502/proxies/nginx/_scan_wrappers.h", "src/why502/proxies/nginx/_scan_access.h",
             "src/why502/proxies/nginx/_scan_columns.h"],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
    optional=True,
)])
