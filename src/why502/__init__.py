"""why502: tells the person on call why a reverse proxy returns 502/503/504.

The package follows the pipeline of docs/architecture.md: sources -> parsers -> evidence ->
analyzers -> findings -> reporters, wired by ``app`` and exposed by a thin ``cli``.  Import-linter
enforces the direction (see ``[tool.importlinter]`` in pyproject.toml).

``__version__`` is the one version of the project (pyproject.toml reads it); ``PROJECT_URL`` is
the one place the project's address is written (docs links, SARIF ``informationUri``).
"""

from why502 import classcode as _classcode

# before any of the package's dataclasses is defined: their methods' code from the table
_classcode.install()

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/why502/why502"
