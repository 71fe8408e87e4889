"""How often the dashboard's password (DASHBOARD_PASSWORD) may be tried: the rule, apart
from any page, so that it is tested with a clock of its own.

From one address, the first FREE_TRIES wrong passwords cost nothing; after that each wrong
one makes that address wait, 1 s, 2 s, 4 s … up to LONGEST_WAIT, and a try made while it
waits is refused without the password being checked (so it tells nothing). The right
password, once the wait is over, signs in and clears the address's count; an address with
no wrong password for FORGET_AFTER is forgotten. One address thus gets 14 guesses in its
first quarter of an hour, then 4 an hour (about 100 a day), where it had 6 a second.

From all addresses together, OVERALL_TRIES wrong passwords within OVERALL_WINDOW (guesses
spread over many addresses) close the sign-in for OVERALL_LOCK, renewed while they go on —
but not to an address that signed in before (within KNOWN_FOR): a flood of wrong passwords
from elsewhere must not keep the automation out for as long as it lasts. An attacker cannot make
an address of their own known without the password. A new address waits until the flood
stops and the lock ends.

The counts live in the web process's memory (one process serves the dashboard; a restart
forgets them) and are bounded: at most MOST_ADDRESSES addresses each, the oldest forgotten
first. An IPv6 address counts by its /64 network, which one household or server holds
whole. Each lockout is logged once (logger planner.web), with the address, never a password.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("planner.web")

FREE_TRIES = 5
FIRST_WAIT = 1.0
LONGEST_WAIT = 15 * 60.0
FORGET_AFTER = 24 * 3600.0
OVERALL_TRIES = 50
OVERALL_WINDOW = 10 * 60.0
OVERALL_LOCK = 15 * 60.0
KNOWN_FOR = 30 * 86400.0
MOST_ADDRESSES = 10_000
THIS_MACHINE = "this machine"
# Where a proxy in front of the process connects from: this machine, private networks
# (RFC 1918, IPv6 unique local) and carrier-grade NAT space, which platforms use inside.
# No client on the internet reaches the process from them.
PROXY_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                    "100.64.0.0/10", "::1/128", "fc00::/7")
)  # fmt: skip


def client_address(peer: str | None, forwarded_for: list[str] | None = None) -> str:
    """Who is trying, as counted: `peer` is the address the connection came from as the
    server saw it (Streamlit's `st.context.ip_address`: None on this machine's own loopback;
    uvicorn has already taken X-Forwarded-For from a proxy on this machine); `forwarded_for`
    the X-Forwarded-For headers sent with it.

    X-Forwarded-For is believed only when the connection came from a PROXY_NETWORKS
    address (a platform's router, as on Heroku or Render, or a proxy on this machine), and
    then only its last entry: the address that proxy saw and appended. Entries before it
    are whatever the client wrote. From a public address the header is the client's own word and is
    ignored. A client on the same private network can still name itself anything; the
    overall limit holds it."""
    address = _parsed(peer)
    if (address is None or _is_proxy(address)) and forwarded_for:
        entries = [entry.strip() for entry in ",".join(forwarded_for).split(",")]
        forwarded = _parsed(entries[-1])
        address = forwarded or address
    if address is None:
        return THIS_MACHINE
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _is_proxy(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(
        address in network for network in PROXY_NETWORKS if network.version == address.version
    )


def _parsed(text: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Hold:
    """Why a try is not checked now, and for how long."""

    seconds: float
    everyone: bool = False  # the overall lock, not this address's own wrong passwords


@dataclass(frozen=True)
class Attempt:
    checked: bool  # the password was compared (not refused while held back)
    right: bool
    hold: Hold | None  # what holds this address back from now on, if anything


def in_words(hold: Hold) -> str:
    """What the sign-in page says while `hold` lasts."""
    wait = _duration(hold.seconds)
    if hold.everyone:
        return (
            "Too many wrong passwords lately, from many places: signing in from here is "
            f"paused. Try again in {wait}."
        )
    return f"Too many wrong passwords from here: try again in {wait}."


def _duration(seconds: float) -> str:
    whole = max(1, math.ceil(seconds - 1e-9))
    if whole < 120:
        return "1 second" if whole == 1 else f"{whole} seconds"
    minutes = math.ceil(whole / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    until: float = 0.0  # held back until then


class SignInGuard:
    """The rule's state for one process. `clock` gives seconds that only go forward
    (time.monotonic); tests pass their own. Safe to call from Streamlit's script threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._known: OrderedDict[str, float] = OrderedDict()  # address → last sign-in
        self._recent: deque[float] = deque(maxlen=OVERALL_TRIES)  # wrong passwords' times
        self._overall_until = -math.inf

    def hold(self, client: str) -> Hold | None:
        """What keeps `client` from having a password checked now, if anything."""
        with self._lock:
            return self._hold(client, self.clock())

    def attempt(self, client: str, check: Callable[[], bool]) -> Attempt:
        """One try from `client`: refused unchecked while it is held back; otherwise
        `check()` compares the password and the outcome is counted."""
        with self._lock:
            now = self.clock()
            held = self._hold(client, now)
            if held is not None:
                return Attempt(checked=False, right=False, hold=held)
            if check():
                self._signed_in(client, now)
                return Attempt(checked=True, right=True, hold=None)
            self._failed(client, now)
            return Attempt(checked=True, right=False, hold=self._hold(client, now))

    def _hold(self, client: str, now: float) -> Hold | None:
        self._forget_old(now)
        record = self._records.get(client)
        own = record.until - now if record and record.until > now else 0.0
        everyone = self._overall_until - now
        if everyone > 0 and not self._is_known(client, now):
            return Hold(max(own, everyone), everyone=everyone >= own)
        return Hold(own) if own > 0 else None

    def _is_known(self, client: str, now: float) -> bool:
        last = self._known.get(client)
        return last is not None and now - last <= KNOWN_FOR

    def _signed_in(self, client: str, now: float) -> None:
        record = self._records.pop(client, None)
        if record is not None and record.failures >= FREE_TRIES:
            log.info(
                "sign-in: the right password from %s after %d wrong ones",
                client, record.failures,
            )  # fmt: skip
        self._known[client] = now
        self._known.move_to_end(client)
        while len(self._known) > MOST_ADDRESSES:
            self._known.popitem(last=False)

    def _failed(self, client: str, now: float) -> None:
        record = self._records.pop(client, None) or _Record()
        self._records[client] = record  # the most recent last, so the oldest go first
        while len(self._records) > MOST_ADDRESSES:
            self._records.popitem(last=False)
        record.failures += 1
        record.last_failure = now
        if record.failures >= FREE_TRIES:
            wait = min(FIRST_WAIT * 2 ** (record.failures - FREE_TRIES), LONGEST_WAIT)
            record.until = now + wait
            if record.failures == FREE_TRIES:
                log.warning(
                    "sign-in: %d wrong passwords from %s; each further one makes it wait "
                    "longer (up to %d minutes)",
                    FREE_TRIES, client, LONGEST_WAIT // 60,
                )  # fmt: skip
        self._recent.append(now)
        if len(self._recent) == OVERALL_TRIES and now - self._recent[0] <= OVERALL_WINDOW:
            if self._overall_until <= now:
                log.warning(
                    "sign-in: %d wrong passwords within %d minutes from all addresses; "
                    "signing in is paused for %d minutes except from addresses that "
                    "signed in before",
                    OVERALL_TRIES, OVERALL_WINDOW // 60, OVERALL_LOCK // 60,
                )  # fmt: skip
            self._overall_until = now + OVERALL_LOCK

    def _forget_old(self, now: float) -> None:
        """Addresses with no wrong password for FORGET_AFTER, the oldest first."""
        while self._records:
            client, record = next(iter(self._records.items()))
            if now - record.last_failure <= FORGET_AFTER:
                break
            del self._records[client]
