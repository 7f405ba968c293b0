"""Reading people from a file: CSV with a header (`id`, `email`, `name`) or JSON lines."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from addon.people._errors import BadPerson, ImportFailed
from addon.people._records import Person

__all__ = ["Parsed", "RowProblem", "parse_people"]


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


@dataclass(slots=True)
class Parsed:
    """The people read, and each bad row by line number (a bad row never costs the others)."""

    people: list[Person] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def parse_people(text: str) -> Parsed:
    """People from CSV (a header naming `id`, optionally `email` and `name`) or JSON lines (one
    object a line); the format is told by the first non-blank character."""
    stripped = text.lstrip("\ufeff")
    first = stripped.lstrip()[:1]
    if not first:
        raise ImportFailed("the file is empty")
    return _json_lines(stripped) if first == "{" else _csv(stripped)


def _person(line: int, values: object, parsed: Parsed) -> None:
    if not isinstance(values, dict):
        parsed.problems.append(RowProblem(line, "not a JSON object"))
        return
    try:
        parsed.people.append(
            Person(
                _text(values.get("id")),  # type: ignore[arg-type]
                _text(values.get("email")),
                _text(values.get("name")),
            )
        )
    except BadPerson as exc:
        parsed.problems.append(RowProblem(line, str(exc)))


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, str | int) else None


def _json_lines(text: str) -> Parsed:
    parsed = Parsed()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except ValueError as exc:
            parsed.problems.append(RowProblem(number, f"not JSON: {exc.args[0].split(':')[0]}"))
            continue
        _person(number, values, parsed)
    return parsed


def _csv(text: str) -> Parsed:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = [(name or "").strip().lower() for name in reader.fieldnames or ()]
    if "id" not in fields:
        raise ImportFailed("line 1: the CSV header names no 'id' column (expected id, email, name)")
    reader.fieldnames = fields
    parsed = Parsed()
    try:
        for row in reader:
            if row.get(None):
                parsed.problems.append(
                    RowProblem(reader.line_num, "more values than the header has columns")
                )
                continue
            _person(reader.line_num, row, parsed)
    except csv.Error as exc:
        parsed.problems.append(RowProblem(reader.line_num, f"not CSV: {exc}"))
    return parsed
