"""The dashboard password's rule (core.access.sign_in) with a clock of the test's own: five wrong
passwords from one address are free, then each makes it wait longer (up to 15 minutes)
and a try while it waits is not even checked; fifty from everywhere within ten minutes
pause new addresses, never one that signed in before; the right password works once a
wait is over. Then the page's words, through AppTest."""

from __future__ import annotations

import logging

import pytest

from core.access import sign_in
from core.access.sign_in import Hold, SignInGuard, client_address, in_words
from dashboard import auth
from support.screens import texts

PASSWORD = "open sesame"
HOME = "203.0.113.7"


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(clock) -> SignInGuard:
    return SignInGuard(clock)


def wrong(guard: SignInGuard, client: str = HOME) -> sign_in.Attempt:
    return guard.attempt(client, lambda: False)


def right(guard: SignInGuard, client: str = HOME) -> sign_in.Attempt:
    return guard.attempt(client, lambda: True)


def wrong_in_turn(guard: SignInGuard, clock: Clock, times: int, client: str = HOME) -> None:
    """`times` wrong passwords from `client`, each once its wait (if any) is over."""
    for _ in range(times):
        held = guard.hold(client)
        clock.advance(held.seconds if held else 0)
        assert wrong(guard, client).checked


def not_to_be_checked() -> bool:
    raise AssertionError("a held-back try was checked")


def test_five_wrong_passwords_are_free_then_each_waits_twice_as_long(guard, clock):
    for _ in range(4):
        assert wrong(guard) == sign_in.Attempt(checked=True, right=False, hold=None)
    waits = []
    for _ in range(12):
        attempt = wrong(guard)
        assert attempt.checked and attempt.hold is not None
        waits.append(attempt.hold.seconds)
        clock.advance(attempt.hold.seconds)
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]


def test_a_try_while_waiting_is_refused_without_checking_and_changes_nothing(guard, clock):
    wrong_in_turn(guard, clock, 6)  # the sixth makes it wait 2 s
    clock.advance(1.5)
    refused = guard.attempt(HOME, not_to_be_checked)
    assert refused == sign_in.Attempt(checked=False, right=False, hold=Hold(0.5))
    assert guard.hold(HOME) == Hold(0.5)  # the refused try did not lengthen the wait
    clock.advance(0.5)
    assert guard.hold(HOME) is None
    assert wrong(guard).hold == Hold(4)  # the next checked one counts as the seventh


def test_the_right_password_works_once_the_longest_wait_is_over(guard, clock):
    wrong_in_turn(guard, clock, 20)
    assert guard.hold(HOME) == Hold(15 * 60)
    clock.advance(15 * 60 - 1)
    assert not guard.attempt(HOME, lambda: True).right  # not even the right one, yet
    clock.advance(1)
    assert right(guard).right
    assert [wrong(guard).hold for _ in range(4)] == [None] * 4  # the count starts again


def test_one_addresss_wrong_passwords_do_not_hold_back_another(guard, clock):
    wrong_in_turn(guard, clock, 10, "198.51.100.9")
    assert guard.hold("198.51.100.9") is not None
    assert guard.hold(HOME) is None
    assert right(guard).right


def test_an_address_is_forgotten_a_day_after_its_last_wrong_password(guard, clock):
    wrong_in_turn(guard, clock, 5)
    clock.advance(sign_in.FORGET_AFTER - 1)
    assert wrong(guard).hold == Hold(2)  # still remembered: the sixth
    clock.advance(sign_in.FORGET_AFTER + 1)
    assert [wrong(guard).hold for _ in range(4)] == [None] * 4


def spread(guard: SignInGuard, clock: Clock, count: int, seconds: float) -> None:
    """`count` wrong passwords from as many addresses, over `seconds`."""
    for n in range(count):
        wrong(guard, f"192.0.2.{n % 250}" if n < 250 else f"198.51.100.{n % 250}")
        clock.advance(seconds / count)


def test_fifty_wrong_passwords_from_everywhere_pause_new_addresses(guard, clock):
    spread(guard, clock, 49, 9 * 60)
    assert guard.hold(HOME) is None
    wrong(guard, "192.0.2.250")
    hold = guard.hold(HOME)
    assert hold.everyone and hold.seconds == pytest.approx(15 * 60)
    assert guard.attempt(HOME, not_to_be_checked).hold == hold
    clock.advance(15 * 60)
    assert right(guard).right  # the lock has ended: the right password works


def test_fifty_wrong_passwords_spread_over_more_than_ten_minutes_lock_nobody(guard, clock):
    spread(guard, clock, 200, 60 * 60)
    assert guard.hold(HOME) is None


def test_an_address_that_signed_in_before_is_not_kept_out_by_a_flood(guard, clock):
    """The automation's address stays open however long the flood lasts; only its own wrong
    passwords hold it back."""
    assert right(guard).right
    clock.advance(3600)
    for _ in range(4):
        spread(guard, clock, 60, 60)
        assert guard.hold("198.51.100.200").everyone
        assert guard.hold(HOME) is None
    assert wrong(guard).hold is None  # its own count starts at zero
    assert right(guard).right


def test_an_address_known_a_month_ago_counts_as_new(guard, clock):
    right(guard)
    clock.advance(sign_in.KNOWN_FOR + 1)
    spread(guard, clock, 50, 60)
    assert guard.hold(HOME) is not None and guard.hold(HOME).everyone


def test_each_lockout_is_logged_once_without_the_password(guard, clock, caplog):
    caplog.set_level(logging.INFO, logger="planner.web")
    for _ in range(8):
        assert guard.attempt(HOME, lambda: PASSWORD == "hunter2").checked
        clock.advance(60)
    spread(guard, clock, 120, 60)
    clock.advance(15 * 60)
    assert right(guard).right
    lines = [record.getMessage() for record in caplog.records]
    assert all(record.name == "planner.web" for record in caplog.records)
    assert [line for line in lines if HOME in line] == [
        "sign-in: 5 wrong passwords from 203.0.113.7; each further one makes it wait longer "
        "(up to 15 minutes)",
        "sign-in: the right password from 203.0.113.7 after 8 wrong ones",
    ]
    assert [line for line in lines if "all addresses" in line] == [
        "sign-in: 50 wrong passwords within 10 minutes from all addresses; signing in is "
        "paused for 15 minutes except from addresses that signed in before"
    ]
    assert not any(word in line for line in lines for word in ("hunter2", PASSWORD))


def test_the_addresses_remembered_are_bounded(guard, clock, monkeypatch):
    monkeypatch.setattr(sign_in, "MOST_ADDRESSES", 3)
    for n in range(5):
        wrong_in_turn(guard, clock, 5, f"192.0.2.{n}")
    assert guard.hold("192.0.2.0") is None  # the oldest forgotten
    assert guard.hold("192.0.2.4") is not None


@pytest.mark.parametrize(
    ("peer", "forwarded", "counted"),
    [
        ("203.0.113.7", None, "203.0.113.7"),
        (None, None, sign_in.THIS_MACHINE),  # Streamlit says None for 127.0.0.1 and ::1
        # a public peer's X-Forwarded-For is its own word
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        # a platform's router (a private address): the entry it appended, the last
        ("10.1.2.3", ["6.6.6.6, 203.0.113.7"], "203.0.113.7"),
        ("10.1.2.3", ["6.6.6.6", "203.0.113.7"], "203.0.113.7"),
        ("10.1.2.3", ["not an address"], "10.1.2.3"),
        ("10.1.2.3", [], "10.1.2.3"),
        ("fd00::5", ["203.0.113.7"], "203.0.113.7"),
        ("100.64.0.9", ["203.0.113.7"], "203.0.113.7"),
        (None, ["203.0.113.7"], "203.0.113.7"),
        # IPv6 by its /64, which one household or server holds whole
        ("2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", None, "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", None, "203.0.113.7"),
        (object(), None, sign_in.THIS_MACHINE),  # AppTest's stand-in for a connection
    ],
)
def test_the_address_a_try_counts_against(peer, forwarded, counted):
    assert client_address(peer, forwarded) == counted


@pytest.mark.parametrize(
    ("hold", "said"),
    [
        (Hold(1), "Too many wrong passwords from here: try again in 1 second."),
        (Hold(0.2), "Too many wrong passwords from here: try again in 1 second."),
        (Hold(8), "Too many wrong passwords from here: try again in 8 seconds."),
        (Hold(60), "Too many wrong passwords from here: try again in 60 seconds."),
        (Hold(120), "Too many wrong passwords from here: try again in 2 minutes."),
        (Hold(4 * 60), "Too many wrong passwords from here: try again in 4 minutes."),
        (Hold(3 * 60 + 1), "Too many wrong passwords from here: try again in 4 minutes."),
        (
            Hold(12 * 60, everyone=True),
            "Too many wrong passwords lately, from many places: signing in from here is "
            "paused. Try again in 12 minutes.",
        ),
    ],
)
def test_a_hold_in_plain_words(hold, said):
    assert in_words(hold) == said


# The page, through AppTest: the process's guard is replaced by one on the test's clock.


@pytest.fixture
def page_guard(guard, monkeypatch) -> SignInGuard:
    monkeypatch.setattr(auth, "guard", lambda: guard)
    return guard


def sign_in_with(app, password: str) -> None:
    app.text_input[0].input(password)
    app.button[0].click().run()


def test_the_page_says_how_long_to_wait_and_lets_the_right_password_in_after(
    dashboard, agent, page_guard, clock
):
    app = dashboard(DASHBOARD_PASSWORD=PASSWORD)
    for _ in range(4):
        sign_in_with(app, "guess")
    assert "That password is not right." in texts(app)
    assert "Too many" not in texts(app)
    sign_in_with(app, "guess")
    assert "That password is not right." in texts(app)
    assert "Too many wrong passwords from here: try again in 1 second." in texts(app)
    for _ in range(6):
        clock.advance(page_guard.hold(sign_in.THIS_MACHINE).seconds)
        sign_in_with(app, "guess")
    assert "Too many wrong passwords from here: try again in 64 seconds." in texts(app)
    clock.advance(34)
    sign_in_with(app, PASSWORD)  # the right one, refused unchecked while it waits
    assert "That password is not right." not in texts(app)
    assert "Too many wrong passwords from here: try again in 30 seconds." in texts(app)
    assert "No jobs yet" not in texts(app)
    clock.advance(30)
    app.run()  # a reload once the wait is over: nothing about waiting
    assert "Too many" not in texts(app)
    sign_in_with(app, PASSWORD)
    assert "No jobs yet" in texts(app)


def test_a_reload_while_waiting_says_so_before_any_try(dashboard, agent, page_guard, clock):
    wrong_in_turn(page_guard, clock, 13, sign_in.THIS_MACHINE)
    app = dashboard(DASHBOARD_PASSWORD=PASSWORD)
    assert "Too many wrong passwords from here: try again in 5 minutes." in texts(app)


def test_the_page_says_when_a_flood_pauses_signing_in(dashboard, agent, page_guard, clock):
    spread(page_guard, clock, 50, 60)
    app = dashboard(DASHBOARD_PASSWORD=PASSWORD)
    said = "signing in from here is paused. Try again in 15 minutes."
    assert said in texts(app)
    sign_in_with(app, PASSWORD)
    assert said in texts(app) and "No jobs yet" not in texts(app)
    clock.advance(15 * 60)
    sign_in_with(app, PASSWORD)
    assert "No jobs yet" in texts(app)
