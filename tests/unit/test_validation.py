"""Text rules: no control characters in titles and names; only newlines and tabs in multi-line text;
alert text cleaned rather than refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentcore.errors import ValidationFailed
from incidentcore.testing.strategies import multiline_text, single_line_text
from incidentcore.validation import check_text, without_control_characters

CONTROLS = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]] + ["\u2028", "\u2029"]
controls = st.sampled_from(CONTROLS)


@given(before=single_line_text(max_size=20), control=controls, after=single_line_text(max_size=20))
def test_a_single_line_value_with_any_control_character_is_refused(before: str, control: str, after: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_text("title", f"x{before}{control}{after}", 100, required=True)
    assert refused.value.errors[0].field == "title"
    assert f"U+{ord(control):04X}" in refused.value.errors[0].message


@given(before=multiline_text(max_size=20), control=controls, after=multiline_text(max_size=20))
def test_multiline_values_take_newlines_and_tabs_only(before: str, control: str, after: str) -> None:
    value = f"{before}{control}{after}"
    if control in "\n\t":
        check_text("body", value, 100, required=False, multiline=True)
    else:
        with pytest.raises(ValidationFailed):
            check_text("body", value, 100, required=False, multiline=True)


@given(single_line_text(min_size=1, max_size=50).filter(str.strip))
def test_generated_names_pass(value: str) -> None:
    check_text("name", value, 50, required=True)


@given(st.text(max_size=60), st.booleans())
def test_cleaned_text_always_passes_and_keeps_its_printable_characters(value: str, multiline: bool) -> None:
    cleaned = without_control_characters(value, multiline=multiline)
    check_text("description", cleaned, 60, required=False, multiline=multiline)
    source = value.replace("\r\n", "\n") if multiline else value
    allowed = "\n\t" if multiline else ""
    assert cleaned == "".join(c if c not in CONTROLS or c in allowed else " " for c in source)


def test_crlf_becomes_one_newline_in_multiline_text() -> None:
    assert without_control_characters("a\r\nb\rc", multiline=True) == "a\nb c"
    assert without_control_characters("a\r\nb", multiline=False) == "a  b"
