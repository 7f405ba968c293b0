"""The inspector's login throttle: a sliding minute of failures per client, then a wait."""

from __future__ import annotations

import pytest

from addon.inspector._throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_past_the_limit_a_client_waits_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, window=60.0, clock=clock)
    for _ in range(2):
        throttle.failed("10.0.0.1")
        clock.now += 10
    assert throttle.wait_for("10.0.0.1") == 0.0
    throttle.failed("10.0.0.1")  # the third, at 1020
    assert throttle.wait_for("10.0.0.1") == pytest.approx(40.0)  # the first left at 1060
    assert throttle.wait_for("10.0.0.2") == 0.0
    clock.now = 1060.0
    assert throttle.wait_for("10.0.0.1") == 0.0
    throttle.failed("10.0.0.1")
    assert throttle.wait_for("10.0.0.1") == pytest.approx(10.0)  # now 1010 is the oldest


def test_a_success_forgets_the_failures() -> None:
    throttle = LoginThrottle(2, clock=Clock())
    throttle.failed("c")
    throttle.succeeded("c")
    throttle.failed("c")
    assert throttle.wait_for("c") == 0.0


def test_it_remembers_a_bounded_number_of_clients() -> None:
    clock = Clock()
    throttle = LoginThrottle(1, max_clients=3, clock=clock)
    for client in ("a", "b", "c", "d"):
        throttle.failed(client)
    assert throttle.wait_for("a") == 0.0  # the longest quiet, forgotten
    assert all(throttle.wait_for(client) > 0 for client in ("b", "c", "d"))
    clock.now += 61
    assert throttle.wait_for("b") == 0.0


def test_the_limit_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LoginThrottle(0)
