"""Where Planner may send its calls: one rule for agents, workflows and channels.

Whoever may save an agent, workflow or channel (the dashboard, the CLI, any API token)
chooses an address Planner then calls and whose answer it keeps on the run. So:

- Link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata addresses
  (169.254.169.254, fd00:ec2::254, Alibaba's 100.100.100.200, metadata.google.internal)
  are never called, whatever the settings say: they hand out the machine's cloud
  credentials.
- PLANNER_OUTBOUND_ALLOW, when set, lists the networks and host names calls may reach;
  nothing else is called. Unset, everything else may be (a local agent such as Ollama).

An address is checked when it is saved (its host as written; a name is looked up only
when the allow list needs its addresses), and again when a call connects
(core.agents.sockets): there the name is looked up, every address it gives is checked and only
a checked address is connected to, since a name can point elsewhere by then (DNS
rebinding).
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx

from core.errors import ConfigError, ValidationError

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

SETTING = "PLANNER_OUTBOUND_ALLOW"
NEVER_NETWORKS = tuple(
    ip_network(network)
    for network in (
        "169.254.0.0/16",  # IPv4 link-local, with 169.254.169.254 (AWS, Azure, GCP, …)
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS's metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud's metadata
    )
)
NEVER_NAMES = frozenset({"metadata.google.internal"})
# IPv6 addresses that carry an IPv4 one: NAT64's well-known prefix.
NAT64 = ip_network("64:ff9b::/96")
# What a resolver also reads as an IPv4 address: 2852039166, 0xa9fea9fe, 0251.0376.0251.0376.
LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
HOST_NAME = re.compile(
    r"(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
)


class Refused(Exception):
    """A call Planner may not make; the message says why, in one sentence."""


@dataclass(frozen=True)
class Allowed:
    """What PLANNER_OUTBOUND_ALLOW lets calls reach; empty: everything but the never-called
    addresses. `names` are exact host names, or `*.example.com` for the names below it."""

    networks: tuple[Network, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return not (self.networks or self.names)

    def admits_name(self, name: str) -> bool:
        name = _plain_name(name)
        return any(
            name.endswith(allowed[1:]) if allowed.startswith("*.") else name == allowed
            for allowed in self.names
        )

    def admits_address(self, address: IPAddress) -> bool:
        address = _plain_address(address)
        return any(address in network for network in self.networks)

    def __str__(self) -> str:
        """As PLANNER_OUTBOUND_ALLOW would say it."""
        return ",".join([*map(str, self.networks), *self.names])


# No allow list: any address but the never-called ones.
ANYWHERE = Allowed()


def parse_allowed(text: str) -> Allowed:
    """PLANNER_OUTBOUND_ALLOW's value: networks (CIDR, or one address) and host names,
    comma-separated; a ConfigError of one line for anything else."""
    networks: list[Network] = []
    names: list[str] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        network = _network(entry)
        if network is not None:
            if any(_within(network, never) for never in NEVER_NETWORKS):
                raise ConfigError(_never_config(entry))
            networks.append(network)
            continue
        name = _plain_name(entry)
        if not HOST_NAME.fullmatch(name):
            raise ConfigError(
                f"{SETTING} lists {entry!r}, which is neither a network (10.0.0.0/8, "
                "192.168.1.20) nor a host name (ollama.internal, *.example.com); "
                "separate them with commas, without http:// or ports"
            )
        if name in NEVER_NAMES:
            raise ConfigError(_never_config(entry))
        names.append(name)
    return Allowed(tuple(networks), tuple(names))


def _network(entry: str) -> Network | None:
    try:
        return ip_network(entry.replace("[", "").replace("]", ""), strict=False)
    except ValueError:
        return None


def _never_config(entry: str) -> str:
    return (
        f"{SETTING} lists {entry}, but Planner never calls link-local or cloud metadata "
        "addresses; take it out"
    )


def _within(network: Network, never: Network) -> bool:
    return network.version == never.version and network.subnet_of(never)  # type: ignore[arg-type]


def _plain_address(address: IPAddress) -> IPAddress:
    """An IPv4 address carried in an IPv6 one (::ffff:a.b.c.d, NAT64), as IPv4."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _plain_name(name: str) -> str:
    return name.lower().rstrip(".")


def literal_address(host: str) -> IPAddress | None:
    """The address `host` is written as (in any form a resolver reads as one), or None
    for a name."""
    host = host.strip("[]")
    try:
        return ip_address(host)
    except ValueError:
        pass
    if LEGACY_IPV4.fullmatch(host) and any(c.isdigit() for c in host):
        try:
            return IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _shown(host: str, address: IPAddress | None) -> str:
    """The host as written, and the address it stands for when written otherwise."""
    if address is None or host.strip("[]") == str(address):
        return host
    return f"{host} ({address})"


def never_reason(host: str, address: IPAddress | None = None) -> str | None:
    """Why `host` (at `address`, if known) is never called; None if it may be."""
    if address is None and _plain_name(host) in NEVER_NAMES:
        return f"Planner never calls {host}: it is a cloud metadata address."
    if address is not None:
        plain = _plain_address(address)
        if any(plain in network for network in NEVER_NETWORKS if network.version == plain.version):
            shown = _shown(host, plain)
            return f"Planner never calls {shown}: it is a link-local or cloud metadata address."
    return None


def _not_allowed(host: str, address: IPAddress | None = None, why: str = "") -> Refused:
    return Refused(
        f"Planner may not call {_shown(host, address)}: {SETTING} does not include it{why}."
    )


def permitted(host: str, addresses: Iterable[IPAddress], allowed: Allowed) -> list[IPAddress]:
    """The addresses `host` was found at that may be called, in order; Refused when one
    of them is never called (the name is not to be trusted) or none is allowed."""
    found = list(dict.fromkeys(addresses))
    for address in found:
        if reason := never_reason(host, address):
            raise Refused(reason)
    if allowed.everything or (literal_address(host) is None and allowed.admits_name(host)):
        return found
    calls = [address for address in found if allowed.admits_address(address)]
    if not calls:
        raise _not_allowed(host, found[0] if found else None)
    return calls


def check_host(host: str, allowed: Allowed, look_up: bool = True) -> None:
    """Refused unless a call to `host` may be made. A name is looked up (blocking) only
    when the allow list names networks and not the name itself, and only if `look_up`."""
    address = literal_address(host)
    if address is not None:
        permitted(host, [address], allowed)
        return
    if reason := never_reason(host):
        raise Refused(reason)
    if allowed.everything or allowed.admits_name(host):
        return
    if not allowed.networks:
        raise _not_allowed(host)
    if not look_up:
        return
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        why = " (the name could not be looked up to see its address)"
        raise _not_allowed(host, why=why) from None
    permitted(host, [ip_address(info[4][0]) for info in found], allowed)


async def addresses_to_call(host: str, port: int, allowed: Allowed) -> list[str]:
    """Where a call to host:port may connect, the name looked up now (on the running
    loop's resolver) and each address checked; Refused with the reason, or OSError when
    the name cannot be looked up."""
    address = literal_address(host)
    if address is not None:
        permitted(host, [address], allowed)
        return [str(address)]
    if reason := never_reason(host):
        raise Refused(reason)
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not found:
        raise OSError(f"{host} has no address")
    return [str(a) for a in permitted(host, [ip_address(info[4][0]) for info in found], allowed)]


def url_host(url: str) -> str | None:
    """The host a call to `url` connects to, as the HTTP client reads it (None if it
    cannot read it: such a URL is never called)."""
    try:
        host = httpx.URL(url).raw_host
    except (httpx.InvalidURL, UnicodeError):
        return None
    return host.decode("ascii") or None


def check_url(url: str, allowed: Allowed) -> None:
    """An agent's or workflow's address, when it is saved: a ValidationError naming the
    field "url" if Planner may not call it."""
    host = url_host(url)
    if host is None:
        return
    try:
        check_host(host, allowed)
    except Refused as refusal:
        raise ValidationError(str(refusal), "url") from None


def channel_hosts(url: str) -> list[str]:
    """The server a notification channel's Apprise URL names: an email service's SMTP
    server, else its host when the service is one run anywhere (json://, ntfy://host,
    gotify://…). A service at a fixed public address (Slack, Discord, Telegram)
    names none: its URL holds tokens, not a server."""
    import apprise

    try:
        service = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # Apprise's own parsing of a hostile URL
        service = None
    if not service:
        return []
    if getattr(service, "smtp_host", ""):  # email: its host is the sender's domain
        return [str(service.smtp_host).strip("[]")]
    if any("{host}" in template for template in getattr(service, "templates", ())):
        host = str(getattr(service, "host", "") or "")
        return [host.strip("[]")] if host else []
    return []


def check_address(url: str, allowed: Allowed, look_up: bool = True) -> None:
    """A notification channel's address (an Apprise URL): a ValidationError naming the
    field "url" if it names a server Planner may not call. A URL Apprise cannot read is
    left to the channel's own check."""
    try:
        for host in channel_hosts(url):
            check_host(host, allowed, look_up)
    except Refused as refusal:
        raise ValidationError(str(refusal), "url") from None
