"""The block-style YAML writer for Forge manifests (read back by Atlassian's validator in test_forge)."""

from __future__ import annotations

import pytest

from descriptor import to_yaml


def test_nested_mappings_and_lists() -> None:
    value = {
        "app": {"id": "x", "connect": {"key": "k"}},
        "remotes": [{"key": "r", "baseUrl": "https://e.com"}],
        "connectModules": {"jira:webhooks": [{"key": "a", "propertyKeys": ["p", "q"]}]},
        "permissions": {"scopes": ["read:connect-jira"]},
    }
    assert to_yaml(value) == (
        "app:\n"
        '  id: "x"\n'
        "  connect:\n"
        '    key: "k"\n'
        "remotes:\n"
        '  - key: "r"\n'
        '    baseUrl: "https://e.com"\n'
        "connectModules:\n"
        '  "jira:webhooks":\n'
        '    - key: "a"\n'
        "      propertyKeys:\n"
        '        - "p"\n'
        '        - "q"\n'
        "permissions:\n"
        "  scopes:\n"
        '    - "read:connect-jira"\n'
    )


def test_scalars_are_written_as_json_writes_them() -> None:
    value = {"s": 'a "b"\nc', "t": True, "z": None, "i": 3, "f": 1.5, "e": [], "m": {}}
    assert to_yaml(value) == ('s: "a \\"b\\"\\nc"\nt: true\nz: null\ni: 3\nf: 1.5\ne: []\nm: {}\n')


@pytest.mark.parametrize("key", ["yes", "No", "n", "null", "on", "a b", "1st", "x:y", "", "-"])
def test_keys_that_are_not_plain_words_are_quoted(key: str) -> None:
    assert to_yaml({key: 1}) == f'"{key}": 1\n'


def test_lists_of_lists() -> None:
    assert to_yaml([[1, 2], [], "x"]) == '- - 1\n  - 2\n- []\n- "x"\n'


@pytest.mark.parametrize("value", [{"x": {1, 2}}, {1: "a"}, {"x": float("nan")}, {"x": b"raw"}])
def test_what_it_cannot_write_is_an_error_not_a_guess(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        to_yaml(value)
