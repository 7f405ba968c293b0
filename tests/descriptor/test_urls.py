"""URL templates: parsing, expansion as Jira does it, and matching URLs as they arrive."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from descriptor import DescriptorError, UrlTemplate, expand, expand_for_event

DATA = Path(__file__).parents[1] / "data" / "jira"

ISSUE_URL = (
    "/webhooks/jira/issue-updated"
    "?issueKey=${issue.key}&issueId=${issue.id}&projectKey=${project.key}&projectId=${project.id}"
)


def split(url: str) -> tuple[str, str]:
    path, _, query = url.partition("?")
    return path, query


def test_parse_exposes_path_query_and_parameters() -> None:
    template = UrlTemplate.parse(ISSUE_URL)
    assert template.text == ISSUE_URL == str(template)
    assert template.path == "/webhooks/jira/issue-updated"
    assert template.query == (
        ("issueKey", "${issue.key}"),
        ("issueId", "${issue.id}"),
        ("projectKey", "${project.key}"),
        ("projectId", "${project.id}"),
    )
    assert template.parameters == ("issue.key", "issue.id", "project.key", "project.id")


def test_parameters_in_the_path_come_first_and_once() -> None:
    template = UrlTemplate.parse("/issues/${issue.key}/x-${issue.id}?id=${issue.id}&kind=issue")
    assert template.path == "/issues/${issue.key}/x-${issue.id}"
    assert template.parameters == ("issue.key", "issue.id")


def test_a_template_without_parameters() -> None:
    template = UrlTemplate.parse("/installed")
    assert (template.path, template.query, template.parameters) == ("/installed", (), ())
    assert template.expand({}) == "/installed"


def test_templates_are_frozen_values() -> None:
    assert UrlTemplate.parse(ISSUE_URL) == UrlTemplate.parse(ISSUE_URL)
    assert hash(UrlTemplate.parse("/a")) == hash(UrlTemplate.parse("/a"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/x?key=${issue.key", "unterminated"),
        ("/x/${issue.key", "unterminated"),
        ("/x?key=${}", "not a context parameter name"),
        ("/x?key=${issue key}", "not a context parameter name"),
        ("/x?key=${1issue}", "not a context parameter name"),
        ("/x#frag", "fragment"),
        ("/x?${issue.key}=1", "query values"),
        ("/x?a=${issue.key}&a=${issue.id}", "appears twice"),
    ],
)
def test_malformed_templates_are_refused(text: str, message: str) -> None:
    with pytest.raises(DescriptorError, match=message):
        UrlTemplate.parse(text)


def test_descriptor_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        UrlTemplate.parse(None)  # type: ignore[arg-type]


def test_expand_percent_encodes_values_everywhere() -> None:
    template = UrlTemplate.parse("/issues/${issue.key}?id=${issue.id}&kind=issue")
    url = template.expand({"issue.key": "a/b c", "issue.id": "1&x=2+é"})
    assert url == "/issues/a%2Fb%20c?id=1%26x%3D2%2B%C3%A9&kind=issue"


def test_expand_leaves_a_missing_value_empty() -> None:
    assert UrlTemplate.parse(ISSUE_URL).expand({"issue.key": "DEV-1"}) == (
        "/webhooks/jira/issue-updated?issueKey=DEV-1&issueId=&projectKey=&projectId="
    )


def test_expand_does_not_raise_on_a_lone_surrogate() -> None:
    assert UrlTemplate.parse("/x?k=${issue.key}").expand({"issue.key": "\ud83c"}) == "/x?k=%3F"


def test_match_reads_the_values_back() -> None:
    template = UrlTemplate.parse(ISSUE_URL)
    query = "issueKey=DEV-1&issueId=10001&projectKey=DEV&projectId=10000"
    assert template.match("/webhooks/jira/issue-updated", query) == {
        "issue.key": "DEV-1",
        "issue.id": "10001",
        "project.key": "DEV",
        "project.id": "10000",
    }


def test_match_ignores_parameters_the_template_does_not_name() -> None:
    template = UrlTemplate.parse(ISSUE_URL)
    query = "user_id=admin&issueKey=DEV-1&user_key=admin&jwt=a.b.c&anything=%ZZ"
    assert template.match("/webhooks/jira/issue-updated", query) == {"issue.key": "DEV-1"}


def test_match_treats_empty_and_unexpanded_values_as_absent() -> None:
    template = UrlTemplate.parse(ISSUE_URL)
    query = "issueKey=${issue.key}&issueId=&projectKey=%24%7Bproject.key%7D&projectId=10000"
    assert template.match("/webhooks/jira/issue-updated", query) == {"project.id": "10000"}
    assert template.match("/webhooks/jira/issue-updated", "") == {}


def test_match_decodes_query_values_with_form_semantics() -> None:
    template = UrlTemplate.parse("/x?k=${issue.key}")
    assert template.match("/x", "k=a+b%2Bc%20d") == {"issue.key": "a b+c d"}


def test_match_compares_literal_path_text_after_decoding() -> None:
    template = UrlTemplate.parse(ISSUE_URL)
    assert template.match("/webhooks/jira/issue%2Dupdated", "issueId=1") == {"issue.id": "1"}
    assert template.match("/webhooks/%6Aira/issue-updated", "") == {}
    assert template.match("/webhooks/jira/issue-created", "issueId=1") is None
    assert template.match("/webhooks/jira", "") is None
    assert template.match("/webhooks/jira/issue-updated/more", "") is None


def test_match_accepts_one_trailing_slash() -> None:
    assert UrlTemplate.parse("/installed").match("/installed/") == {}
    assert UrlTemplate.parse("/installed").match("/installed//") is None


def test_match_reads_parameters_in_path_segments() -> None:
    template = UrlTemplate.parse("/issues/${issue.key}/v-${version.id}")
    assert template.match("/issues/DEV%2F1%20x/v-12", "") == {
        "issue.key": "DEV/1 x",
        "version.id": "12",
    }
    assert template.match("/issues/DEV-1/w-12", "") is None
    assert template.match("/issues//v-", "") == {}
    assert template.match("/issues/DEV+1/v-1", "") == {"issue.key": "DEV+1", "version.id": "1"}


def test_a_literal_query_value_must_match() -> None:
    template = UrlTemplate.parse("/hook?kind=issue&key=${issue.key}")
    assert template.match("/hook", "kind=issue&key=A") == {"issue.key": "A"}
    assert template.match("/hook", "kind=%69ssue") == {}
    assert template.match("/hook", "kind=comment&key=A") is None
    assert template.match("/hook", "key=A") is None
    assert template.match("/hook", "kind=comment&kind=issue") is None


def test_a_partly_literal_query_value_must_match_its_literal_part() -> None:
    template = UrlTemplate.parse("/hook?key=DEV-${issue.id}")
    assert template.match("/hook", "key=DEV-7") == {"issue.id": "7"}
    assert template.match("/hook", "key=DEV-") == {}
    assert template.match("/hook", "key=OPS-7") is None


def test_match_takes_a_query_from_the_raw_path_when_none_is_given() -> None:
    template = UrlTemplate.parse("/x?k=${issue.key}")
    assert template.match("/x?k=A") == {"issue.key": "A"}
    assert template.match("/x?k=A", "k=B") == {"issue.key": "B"}


def test_match_of_non_strings_is_none() -> None:
    assert UrlTemplate.parse("/x").match(None, "") is None  # type: ignore[arg-type]
    assert UrlTemplate.parse("/x").match("/x", b"") is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("/x", "/x", True),
        ("/x", "/y", False),
        ("/x", "/x?k=${issue.key}", True),
        ("/x?kind=issue", "/x?kind=comment", False),
        ("/x?kind=issue", "/x", True),
        ("/x?kind=issue", "/x?kind=${issue.key}", True),
        ("/x/${issue.key}", "/x/DEV-1", True),
        ("/x/v-${version.id}", "/x/DEV-1", False),
        ("/x/${issue.key}", "/x/${issue.id}", True),
        ("/x/${issue.key}", "/x", False),
        ("/x%2Dy", "/x-y", True),
    ],
)
def test_overlaps(a: str, b: str, overlap: bool) -> None:
    first, second = UrlTemplate.parse(a), UrlTemplate.parse(b)
    assert first.overlaps(second) is overlap
    assert second.overlaps(first) is overlap


def test_expand_for_event_takes_values_from_the_body() -> None:
    payload = json.loads(
        (DATA / "jira_issue_created__mattermost-cloud-many-fields.json").read_text("utf-8")
    )
    assert expand_for_event(ISSUE_URL, "jira:issue_created", payload) == (
        "/webhooks/jira/issue-updated?issueKey=KT-22&issueId=10509&projectKey=KT&projectId=10008"
    )
    assert expand_for_event("/w?accountId=${modifiedUser.accountId}", "user_created", {}) == (
        "/w?accountId="
    )
    assert expand_for_event(ISSUE_URL, "no_such_event", payload).endswith("projectId=")


def test_expand_with_plain_values() -> None:
    assert expand("/v/${version.id}", {"version.id": "1 2"}) == "/v/1%202"


ROUND_TRIP_TEMPLATES = [
    ISSUE_URL,
    "/issues/${issue.key}/comments?id=${issue.id}&kind=comment",
    "/p/v${version.id}/x?x=1&v=id-${project.id}",
]
PARAMETERS = ["issue.key", "issue.id", "project.key", "project.id", "version.id"]
awkward_text = st.text(
    st.sampled_from(list(" &=+%/#?;,:@$'\"\\\n\t\x00~*é漢🎉${}")) | st.characters(codec="utf-8"),
    max_size=12,
)
UNEXPANDED = re.compile(r"\$\{[^{}]*\}")


@given(
    text=st.sampled_from(ROUND_TRIP_TEMPLATES),
    values=st.dictionaries(st.sampled_from(PARAMETERS), awkward_text),
)
@example(text=ISSUE_URL, values={"issue.key": "a b&c=d+e%f/g#h?i", "issue.id": ""})
@example(text=ROUND_TRIP_TEMPLATES[1], values={"issue.key": "../..", "issue.id": "${issue.id}"})
def test_match_reads_back_what_expand_wrote(text: str, values: dict[str, str]) -> None:
    template = UrlTemplate.parse(text)
    expected = {
        name: value
        for name, value in values.items()
        if name in template.parameters and value and not UNEXPANDED.fullmatch(value)
    }
    assert template.match(*split(template.expand(values))) == expected


@given(
    text=st.sampled_from([*ROUND_TRIP_TEMPLATES, "/installed", "/x?kind=issue"]),
    raw_path=st.text(st.characters(), max_size=40)
    | st.sampled_from(["/", "", "//", "/webhooks/jira/issue-updated", "/x/%ZZ%C3"]),
    query=st.text(st.characters(), max_size=60) | st.sampled_from(["k=%ff%fe&kind=issue", "&=&"]),
)
def test_match_never_raises(text: str, raw_path: str, query: str) -> None:
    found = UrlTemplate.parse(text).match(raw_path, query)
    assert found is None or all(isinstance(v, str) and v for v in found.values())


@given(
    values=st.dictionaries(st.sampled_from(PARAMETERS), awkward_text),
    extra=st.lists(st.tuples(st.text(min_size=1, max_size=8), awkward_text), max_size=4),
    first=st.booleans(),
)
def test_extra_query_parameters_never_change_the_result(
    values: dict[str, str], extra: list[tuple[str, str]], first: bool
) -> None:
    template = UrlTemplate.parse(ISSUE_URL)
    named = {"issueKey", "issueId", "projectKey", "projectId"}
    path, query = split(template.expand(values))
    added = "&".join(
        f"{quote(name, safe='')}={quote(value, safe='')}"
        for name, value in extra
        if name not in named
    )
    noisy = f"{added}&{query}" if first else f"{query}&{added}"
    assert template.match(path, noisy) == template.match(path, query)


@given(st.text(max_size=60))
def test_parse_raises_nothing_but_descriptor_error(text: str) -> None:
    try:
        template = UrlTemplate.parse(text)
    except DescriptorError:
        return
    assert template.text == text
