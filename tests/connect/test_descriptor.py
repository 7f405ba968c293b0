"""The add-on's own descriptor: rendered for any settings, refused with a readable message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from addon.connect import DescriptorProblem, render_for
from addon.settings import Settings

DEFAULT = Path(__file__).resolve().parents[2] / "atlassian-connect.json.j2"


@pytest.mark.parametrize(
    "name",
    ['Quote " and \\ backslash', "Ünïcödé ✓ 🚀", "new\nline\ttab", "</script><!--", "{{ jinja }}"],
)
def test_unusual_names_render_valid_json(name: str) -> None:
    rendered = render_for(Settings(name=name, base_url="https://example.com/jira-addon"))
    document = json.loads(rendered.json)
    assert document["name"] == name
    assert document["baseUrl"] == "https://example.com/jira-addon"
    assert all(not module.url.startswith("http") for module in rendered.webhooks)
    assert rendered.lifecycle["installed"] == "/installed"


def template(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "descriptor.json.j2"
    path.write_text(text)
    return path


def with_webhooks(*entries: str) -> str:
    source = DEFAULT.read_text()
    start = source.index('"webhooks": [') + len('"webhooks": [')
    end = source.index("]", source.index("}", source.rindex('"event"')))
    return source[:start] + ",".join(entries) + source[end:]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (['{"event": "jira:issue_updated", "url": "/x?k=${sprint.id}"}'], "sprint.id"),
        (['{"event": "sprint_started", "url": "/s", "filter": "project = X"}'], "filter"),
        (['{"event": "jira:issue_updated", "url": "https://evil.example.com/x"}'], "relative"),
        (
            [
                '{"event": "jira:issue_updated", "url": "/same"}',
                '{"event": "jira:issue_created", "url": "/same"}',
            ],
            "modules.webhooks[1]",
        ),
    ],
)
def test_bad_templates_stop_startup_naming_the_module(
    tmp_path: Path, entries: list[str], message: str
) -> None:
    path = template(tmp_path, with_webhooks(*entries))
    with pytest.raises(DescriptorProblem) as problem:
        render_for(Settings(descriptor_template=path))
    assert message in str(problem.value)
    assert "modules.webhooks[" in str(problem.value)


def test_unknown_event_is_a_warning_with_close_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = template(tmp_path, with_webhooks('{"event": "jira:issue_udpated", "url": "/typo"}'))
    rendered = render_for(Settings(descriptor_template=path))
    assert any("jira:issue_updated" in warning for warning in rendered.warnings)
    assert "jira:issue_updated" in caplog.text


def test_broken_template_and_key_mismatch(tmp_path: Path) -> None:
    with pytest.raises(DescriptorProblem, match="line"):
        render_for(Settings(descriptor_template=template(tmp_path, "{ {{ name }")))
    with pytest.raises(DescriptorProblem, match=r"not valid JSON|JSON"):
        render_for(Settings(descriptor_template=template(tmp_path, '{"key": {{ key }},}')))
    fixed_key = DEFAULT.read_text().replace('"key": {{ key }}', '"key": "other"', 1)
    with pytest.raises(DescriptorProblem, match="ADDON_KEY"):
        render_for(Settings(descriptor_template=template(tmp_path, fixed_key)))
