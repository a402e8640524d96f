"""A YAML (or JSON) document whose mappings know where each key and value is written, and the two
edits a block-YAML config takes: a scalar replaced on its own line, keys added to a mapping.

Shared by the proxies whose config is one declarative YAML file (Kong's ``kong.yml``, APISIX's
``apisix.yaml``): their facts carry file:line, and a fix is a unified diff on that file.  Moved
here from ``proxies/kong`` when APISIX, the second such proxy, landed (issue 23: adding a proxy is
its folder, not a copy of another's reader).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from why502.errors import InputError
from why502.findings.patch import Edit, edits_diff, window_diff


class Map(dict[str, Any]):
    """A YAML/JSON mapping with where each key and value is written (1-based lines, 0-based
    columns): what the edits need to put a key or a value on its own line."""

    line: int | None = None
    keys_at: dict[str, tuple[int, int]]
    values_at: dict[str, tuple[int, int, int, int]]  # start line, col, end line, col

    def __init__(self) -> None:
        super().__init__()
        self.keys_at = {}
        self.values_at = {}


def as_dict(value: object) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one (a key written with no value or a list)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """``value`` when it is a sequence, else an empty one."""
    return value if isinstance(value, list) else []


def line_of(obj: object) -> int | None:
    """The line a mapping starts on (a :class:`Map`'s), else None."""
    return obj.line if isinstance(obj, Map) else None


def positive(value: object) -> bool:
    """A number above 0 as written (``3``, ``"3"``, ``0.5``); False for anything else."""
    try:
        return float(value) > 0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def load_positioned(text: str, path: str, what: str) -> object:
    """The document, every mapping a :class:`Map` with its positions; a one-line ``InputError``
    naming ``what`` ("Kong declarative config") when it is not YAML (JSON is YAML)."""
    import yaml

    scalars = yaml.SafeLoader("")

    def build(node: yaml.Node) -> object:
        if isinstance(node, yaml.MappingNode):
            out = Map()
            out.line = node.start_mark.line + 1
            for k, v in node.value:
                key = str(build(k))
                out[key] = build(v)
                out.keys_at[key] = (k.start_mark.line + 1, k.start_mark.column)
                out.values_at[key] = (v.start_mark.line + 1, v.start_mark.column,
                                      v.end_mark.line + 1, v.end_mark.column)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(n) for n in node.value]
        return scalars.construct_object(node, deep=True)

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(f"{path}{where}: not a readable {what} (YAML): {problem}") from None
    return build(root) if root is not None else None


def set_scalars(files: Mapping[str, Sequence[str]], path: str, node: Map,
                values: Mapping[str, str]) -> str | None:
    """Diff replacing the value of each key of ``values`` in ``node``; None when one is not a
    scalar written on its key's own line."""
    lines = files.get(path)
    edits: list[Edit] = []
    for key, value in values.items():
        if not lines or key not in node.values_at or isinstance(node[key], (dict, list)):
            return None
        line, col, end_line, end_col = node.values_at[key]
        if line != end_line or node.keys_at[key][0] != line:
            return None
        text = lines[line - 1]
        edits.append((line - 1, line, [text[:col] + value + text[end_col:]]))
    return edits_diff(path, lines, sorted(edits)) if lines and edits else None


def add_keys(files: Mapping[str, Sequence[str]], path: str, node: Map, new: Sequence[str]) -> str | None:
    """Diff adding the block-YAML lines ``new`` (written at indentation 0) to ``node``, at the
    column of its first key, after the first key's value; None for a JSON or flow mapping."""
    lines = files.get(path)
    if not lines or not node.keys_at:
        return None
    first = next(iter(node.keys_at))
    k_line, col = node.keys_at[first]
    text = lines[k_line - 1]
    if text.lstrip().startswith(("{", '"')) or "{" in text[:col]:
        return None  # JSON, or a flow mapping
    _vline, _vcol, end_line, end_col = node.values_at[first]
    # the line after the first key's value: a block value ends at the next key's column 0
    after = end_line - 1 if end_col == 0 and end_line > k_line else end_line
    pad = " " * col
    return window_diff(path, lines, after, after, [pad + n for n in new])
