"""Reading people from CSV with a header or JSON lines: each bad row reported by line, none lost."""

from __future__ import annotations

import pytest

from addon.people import ImportFailed, Person, parse_people


def test_csv_with_a_header_in_any_order_and_case() -> None:
    parsed = parse_people("Name,ID,Email\nAda Lovelace,u1, Ada@Example.com \nBob,u2,\n")
    assert parsed.people == [
        Person("u1", "Ada@Example.com", "Ada Lovelace"),
        Person("u2", None, "Bob"),
    ]
    assert parsed.problems == []


def test_json_lines_skip_blank_lines() -> None:
    text = '{"id": "u1", "email": "a@example.com"}\n\n{"id": 7, "name": "Seven"}\n'
    parsed = parse_people(text)
    assert parsed.people == [Person("u1", "a@example.com"), Person("7", None, "Seven")]


def test_a_bad_row_is_reported_by_line_and_never_costs_the_others() -> None:
    text = "\n".join(
        [
            '{"id": "u1", "email": "a@example.com"}',
            "not json",
            '{"email": "no-id@example.com"}',
            '["a", "list"]',
            '{"id": "u5", "email": "no-at-sign"}',
            '{"id": "' + "x" * 300 + '"}',
            '{"id": "u7"}',
        ]
    )
    parsed = parse_people(text)
    assert [p.id for p in parsed.people] == ["u1", "u7"]
    assert [(p.line, p.reason.split(";")[0]) for p in parsed.problems] == [
        (2, "not JSON: Expecting value"),
        (3, "a person needs a non-empty id"),
        (4, "not a JSON object"),
        (5, "the email has no '@'"),
        (6, "the id is longer than 255 bytes"),
    ]


def test_csv_rows_with_too_many_values_or_no_id_are_reported_by_line() -> None:
    parsed = parse_people("id,email\nu1,a@example.com\nu2,b@example.com,extra\n,c@example.com\n")
    assert [p.id for p in parsed.people] == ["u1"]
    assert [(p.line, p.reason) for p in parsed.problems] == [
        (3, "more values than the header has columns"),
        (4, "a person needs a non-empty id"),
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "the file is empty"), ("email,name\na@example.com,A\n", "no 'id' column")],
)
def test_a_file_that_cannot_be_read_at_all_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ImportFailed, match=reason):
        parse_people(text)
