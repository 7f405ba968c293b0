"""Atlassian's naming rule for an app's name: no product name first, only "... for Jira"."""

from __future__ import annotations

import pytest

from descriptor import name_problem


@pytest.mark.parametrize(
    "name",
    [
        "Event Inbox for Jira",
        "Time Tracker for Jira",
        "Webhook Log for Jira and Confluence",
        "Event Inbox",
        "Ninjira Inbox for Jira",  # a word that holds "jira" is not the name
        "Inbox  for  JIRA",
    ],
)
def test_names_that_keep_the_rule(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Jira Connect Add-on", "it starts with Jira"),
        ("jira time tracker", "it starts with Jira"),
        ("  Confluence Inbox", "it starts with Confluence"),
        ("Atlassian Events", "it starts with Atlassian"),
        ("JiraInbox for Jira", "it starts with Jira"),
        ("Event Inbox Premium for Jira", "it contains 'premium'"),
        ("Event Inbox by Atlassian fans", "it names Atlassian"),
        ("Event Jira Inbox", 'it names Jira other than as "... for Jira"'),
        ("Inbox with Trello sync for Jira", 'it names Trello other than as "... for Trello"'),
    ],
)
def test_names_that_break_it_and_why(name: str, problem: str) -> None:
    assert name_problem(name) == problem
