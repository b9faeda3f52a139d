"""Report JSON text: the same document as the standard library's, ASCII only."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from stockade.report.jsontext import dumps

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_VALUES)
def test_round_trips_and_stays_ascii(value: object) -> None:
    text = dumps(value)
    assert text.isascii()
    assert json.loads(text) == value


def test_escapes_like_the_standard_library() -> None:
    value = {"name": "caf\u00e9 \u202e \U0001f600", "n": [1, 2]}
    assert json.loads(dumps(value)) == value
    assert "\\ud83d\\ude00" in dumps(value)
    assert "\\u202e" in dumps(value)
