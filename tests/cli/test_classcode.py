"""``why502.classcode``: the dataclasses' generated methods from a table of compiled code.

The promise is that nothing changes but the time: a class defined through the table has the
methods ``dataclasses`` alone would have made (same code, same annotations, same behaviour),
another package's class is left as the builtin ``exec`` makes it, and a table that is not this
Python's is never read."""

from __future__ import annotations

import dataclasses
import marshal
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from why502 import classcode

SOURCE = '''
import dataclasses
from datetime import datetime

@dataclasses.dataclass(frozen=True)
class Group:
    symptom: str
    peer: str | None
    count: int = 0
    first: datetime | None = None
    times: tuple[datetime, ...] = ()
    statuses: dict[int, int] = dataclasses.field(default_factory=dict, hash=False)

@dataclasses.dataclass
class Acc:
    n: int
    samples: list[str] = dataclasses.field(default_factory=list)
'''


def _define(module_name: str, hooked: bool) -> types.ModuleType:
    """``SOURCE`` run as the module ``module_name``, with the table's hook or without it."""
    mod = types.ModuleType(module_name)
    sys.modules[module_name] = mod
    saved = dataclasses.__dict__.pop("exec", None)
    try:
        if hooked:
            dataclasses.exec = classcode._exec  # type: ignore[attr-defined]
        exec(compile(SOURCE, f"<{module_name}>", "exec", dont_inherit=True), mod.__dict__)
    finally:
        dataclasses.__dict__.pop("exec", None)
        if saved is not None:
            dataclasses.exec = saved  # type: ignore[attr-defined]
        del sys.modules[module_name]
    return mod


def _methods(cls: type) -> dict[str, Any]:
    out = {}
    for name in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"):
        fn = cls.__dict__.get(name)
        if isinstance(fn, types.FunctionType):
            out[name] = (fn.__code__.co_code, fn.__code__.co_consts, fn.__code__.co_names,
                         fn.__code__.co_varnames, fn.__defaults__, repr(fn.__annotations__))
    return out


@pytest.mark.parametrize("name", ["why502._classcode_probe", "someone_else._classcode_probe"])
def test_a_class_made_through_the_hook_is_the_class_dataclasses_makes(name: str) -> None:
    plain = _define(name, hooked=False)
    hooked = _define(name, hooked=True)
    for cls in ("Group", "Acc"):
        assert _methods(getattr(hooked, cls)) == _methods(getattr(plain, cls))
    g = hooked.Group("connection-refused", "127.0.0.1:9000", 2)
    assert g == hooked.Group("connection-refused", "127.0.0.1:9000", 2)
    assert hash(g) == hash(hooked.Group("connection-refused", "127.0.0.1:9000", 2))
    assert repr(g) == repr(plain.Group("connection-refused", "127.0.0.1:9000", 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.count = 3  # type: ignore[misc]
    a, b = hooked.Acc(1), hooked.Acc(1)
    a.samples.append("x")
    assert b.samples == []  # each instance its own default list
    # the annotations are the objects, not strings: this module's own future flags
    # (``from __future__ import annotations``) are not the generated code's
    assert hooked.Group.__init__.__annotations__["count"] is int
    assert hooked.Group.__init__.__annotations__["return"] is None


def test_the_table_serves_the_code_of_the_very_text() -> None:
    text = "def __create_fn__(_type_n):\n def f(n:_type_n)->None:\n  return n + 1\n return f"
    code = classcode.code_for(text)
    assert code.co_consts == compile(text, "<string>", "exec", dont_inherit=True).co_consts
    assert text in classcode._new or text in classcode._codes
    ns: dict[str, Any] = {}
    exec(classcode.code_for(text), {}, ns)  # the second time from the table
    assert ns["__create_fn__"](int)(41) == 42


def test_a_table_is_written_whole_and_read_back(tmp_path: Path) -> None:
    path = str(tmp_path / "__pycache__" / "dataclasses.test.marshal")
    text = "def __create_fn__():\n def g(self):\n  return 7\n return g"
    table = {text: marshal.dumps(compile(text, "<string>", "exec", dont_inherit=True))}
    assert classcode.save(path, table)
    assert classcode.load(path) == table
    assert not list((tmp_path / "__pycache__").glob("*.tmp"))


def test_another_pythons_or_a_broken_table_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "t.marshal"
    path.write_bytes(marshal.dumps((b"\x00\x00\r\n", 1, {"def x(): pass": b"junk"})))
    assert classcode.load(str(path)) == {}
    path.write_bytes(b"not marshal at all")
    assert classcode.load(str(path)) == {}
    assert classcode.load(str(tmp_path / "missing.marshal")) == {}


def test_the_package_is_hooked_and_its_classes_are_plain_dataclasses() -> None:
    from why502.evidence.model import SymptomGroup

    assert dataclasses.__dict__.get("exec") is classcode._exec
    g = SymptomGroup("connection-refused", "127.0.0.1:9000", 3)
    assert dataclasses.replace(g, count=4).count == 4
    assert g == SymptomGroup("connection-refused", "127.0.0.1:9000", 3)


def test_a_read_only_install_is_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the package's ``__pycache__`` cannot be written, the table is not built (each run
    compiles, as without it) and nothing fails."""
    ro = tmp_path / "site-packages" / "why502"
    ro.mkdir(parents=True)
    monkeypatch.setattr(classcode, "_installed", [str(ro / "__pycache__" / "dataclasses.test.marshal")])
    monkeypatch.setattr(classcode, "_new", {"def __create_fn__():\n pass": b"x"})
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert classcode.flush() is False
    assert not (ro / "__pycache__").exists()
