"""A delivery's `matchedWebhookIds` against the site's registrations: flagged, never refused."""

from __future__ import annotations

from addon.sites import match_registrations


def test_a_body_naming_a_registration_of_the_site_is_matched() -> None:
    match = match_registrations({"matchedWebhookIds": [7, 9]}, {7, 8})
    assert (match.matched, match.unknown, match.flagged) == ((7,), (9,), False)


def test_a_body_naming_none_of_the_sites_registrations_is_flagged() -> None:
    assert match_registrations({"matchedWebhookIds": [9]}, {7}).flagged
    assert match_registrations({}, {7}).flagged
    odd = match_registrations({"matchedWebhookIds": ["7", True, None, "x", 8.5]}, {7})
    assert (odd.matched, odd.unknown, odd.flagged) == ((7,), (), False)
    assert match_registrations({"matchedWebhookIds": "7"}, {7}).flagged
