"""The bounded reader's pure parts: the JSON depth check (linear, no recursion, strings are text);
and the strict JSON writers (``textutil``) every JSON output goes through."""

from __future__ import annotations

import io
import math

import pytest

from why502.errors import InputError
from why502.sources.netread import Bounds, check_depth, parse_json
from why502.textutil import dump_json, finite, write_json


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_up_to_the_bound_passes_and_one_more_does_not() -> None:
    assert check_depth(nested(32), 32) is None
    assert check_depth(b'{"a": [{"b": [1, 2]}, {}], "c": {}}', 4) is None
    assert check_depth(nested(33), 32) == "JSON nested deeper than 32 levels"
    assert check_depth(b'{"a":' * 40 + b"1" + b"}" * 40, 32) == "JSON nested deeper than 32 levels"


def test_brackets_inside_strings_are_text() -> None:
    label = b'{"metric": {"instance": "[[[[[[[[{{{{{{ \\" ]]]"}, "v": ["]"]}'
    assert check_depth(label, 3) is None
    # an escaped backslash ends the string; an escaped quote does not
    assert check_depth(rb'["a\\", "[", "\\\"]"]', 1) is None
    assert check_depth(rb'["a\\", [[1]]]', 2) == "JSON nested deeper than 2 levels"


def test_unpaired_brackets_never_reach_the_recursive_decoder() -> None:
    """100,000 opening brackets and no closing one: json.loads would recurse until
    RecursionError; the check says so in one line first."""
    assert check_depth(b"[" * 100_000, 32) == "brackets that do not pair"
    assert check_depth(b"[}", 32) == "brackets that do not pair"
    with pytest.raises(InputError, match="brackets that do not pair"):
        parse_json(b"[" * 100_000, Bounds(), "test")


def test_an_unterminated_string_is_cut_to_the_end() -> None:
    """A string that never closes runs to the end of the text (then json.loads reports it):
    its ``[`` are not brackets, and the cut looks at each byte once."""
    assert check_depth(b'["abc' + b"[" * 50, 32) == "brackets that do not pair"
    with pytest.raises(InputError, match="brackets that do not pair"):
        parse_json(b'["abc' + b'\\"[' * 50_000 + b"\\", Bounds(), "test")


def test_constants_that_are_not_json_are_refused() -> None:
    for text in (b"NaN", b"[Infinity]", b'{"a": -Infinity}'):
        with pytest.raises(InputError, match="is not JSON"):
            parse_json(text, Bounds(), "test")
    assert parse_json(b'{"a": [1, "NaN"]}', Bounds(), "test") == {"a": [1, "NaN"]}


def test_the_strict_writers_never_write_non_finite_numbers() -> None:
    """The JSON writers every output goes through: ``textutil.dump_json`` writes a non-finite
    number as ``null`` (as JavaScript's ``JSON.stringify`` does), ``write_json`` (lint's, whose
    documents hold no float) refuses it; neither ever writes ``NaN``/``Infinity``."""
    for bad in (math.nan, math.inf, -math.inf):
        assert dump_json({"rate": bad}, indent=None) == '{"rate": null}'
        with pytest.raises(ValueError):
            write_json(io.StringIO(), {"rate": bad})
    assert dump_json({"rate": finite(math.nan), "n": finite(2.5)}, indent=None) == '{"rate": null, "n": 2.5}'
    assert finite(None) is None and finite(-math.inf) is None
