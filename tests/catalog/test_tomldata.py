"""The package's TOML data read from its parsed cache (``why502.catalog.tomldata``): the same
tables as ``tomllib``, never a stale one, and nothing raised when the cache cannot be written."""

from __future__ import annotations

from pathlib import Path

from why502.catalog import tomldata


def test_every_package_file_reads_back_as_tomllib_parses_it() -> None:
    tomldata.prime()
    sources = [p for p in tomldata.PACKAGE.rglob("*.toml") if "__pycache__" not in p.parts]
    assert sources
    for source in sources:
        assert tomldata.cache_path(source).is_file(), source
        parsed = tomldata.tomllib.loads(source.read_text(encoding="utf-8"))
        assert tomldata.load(source, write=False) == parsed, source


def test_an_edited_file_is_parsed_again_not_served_from_its_cache(tmp_path: Path) -> None:
    source = tmp_path / "rules.toml"
    source.write_text('[[pattern]]\nid = "aaa"\n')
    assert tomldata.load(source, write=True) == {"pattern": [{"id": "aaa"}]}
    assert tomldata.cache_path(source).is_file()
    source.write_text('[[pattern]]\nid = "bbb"\n')  # same length: the checksums tell them apart
    assert tomldata.load(source, write=True) == {"pattern": [{"id": "bbb"}]}
    assert tomldata.load(source, write=False) == {"pattern": [{"id": "bbb"}]}


def test_a_table_marshal_cannot_hold_is_parsed_each_time(tmp_path: Path) -> None:
    source = tmp_path / "dated.toml"
    source.write_text("when = 2026-11-25\n")
    assert tomldata.load(source, write=True) == tomldata.tomllib.loads("when = 2026-11-25\n")
    assert not tomldata.cache_path(source).exists()
    assert not list((tmp_path / "__pycache__").glob("*.tmp"))


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    """As on a read-only install (root may write anywhere, so the cache's directory is a file)."""
    source = tmp_path / "data.toml"
    source.write_text('a = "b"\n')
    (tmp_path / "__pycache__").write_text("")
    assert tomldata.load(source, write=True) == {"a": "b"}
    assert not list(tmp_path.glob("*.tmp"))


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    source = tmp_path / "data.toml"
    source.write_text('a = "b"\n')
    cache = tomldata.cache_path(source)
    cache.parent.mkdir()
    cache.write_bytes(b"\x00not marshal")
    assert tomldata.load(source, write=False) == {"a": "b"}
