"""Address policy for remote fetches: which hosts and IP addresses a URL may reach.

Every spelling of a host is reduced to the address the OS would connect to (``2130706433``,
``0x7f.1``, ``0177.0.0.1``, ``127.1``, ``[::ffff:127.0.0.1]``, ``[fe80::1%eth0]``, ``127.0.0.1.``),
classified, and checked against the :class:`~st_multimodal.policy.FetchPolicy`. Host names are
resolved once; every address returned must pass, and the caller connects to the address returned
here (never resolving again), so DNS rebinding cannot slip past the check.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from ..errors import BlockedSourceError, FetchError
from ..policy import FetchPolicy

__all__ = [
    "IPAddress",
    "parse_ip",
    "block_reason",
    "check_domain",
    "check_host",
    "check_addresses",
    "resolve",
    "METADATA_ADDRESSES",
    "METADATA_HOSTS",
]

IPAddress = IPv4Address | IPv6Address

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
"""Cloud instance-metadata endpoints: blocked whatever the policy says."""
METADATA_HOSTS: frozenset[str] = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)

_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_THIS_NETWORK = IPv4Network("0.0.0.0/8")
_NAT64 = IPv6Network("64:ff9b::/96")


def _parse_ipv4_part(text: str) -> int | None:
    """One inet_aton component: ``0x`` hex, leading-zero octal, or decimal."""
    if text[:2].lower() == "0x":
        digits, base = text[2:] or "0", 16
    elif len(text) > 1 and text[0] == "0":
        digits, base = text[1:], 8
    else:
        digits, base = text, 10
    try:
        return int(digits, base) if digits.isascii() and digits.isalnum() else None
    except ValueError:
        return None


def _parse_ipv4(text: str) -> IPv4Address | None:
    """Parse like inet_aton: 1 to 4 parts; the last part fills the remaining bytes."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or any(not p for p in parts):
        return None
    values = [_parse_ipv4_part(p) for p in parts]
    if any(v is None for v in values):
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(parts)):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return IPv4Address(number)


def parse_ip(host: str) -> IPAddress | None:
    """The address a host string denotes, or None when it is a name to resolve.

    IPv4-mapped IPv6 addresses are returned as IPv4; zones and brackets are dropped.
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.endswith("."):
        text = text[:-1]
    if ":" in text:
        text = text.replace("%25", "%").split("%", 1)[0]
        try:
            ip6 = IPv6Address(text)
        except ValueError:
            return None
        return ip6.ipv4_mapped or ip6
    return _parse_ipv4(text)


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def block_reason(ip: IPAddress, policy: FetchPolicy) -> str | None:
    """Why ``policy`` forbids connecting to ``ip``, or None when it may be reached."""
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return block_reason(ip.ipv4_mapped, policy)
        embedded = _embedded_ipv4(ip)
        if embedded is not None and block_reason(embedded, policy) is not None:
            return f"it embeds the blocked IPv4 address {embedded}"
    if ip in METADATA_ADDRESSES:
        return "it is a cloud metadata endpoint"
    if ip.is_unspecified or (isinstance(ip, IPv4Address) and ip in _THIS_NETWORK):
        return "it is the unspecified address"
    if ip.is_loopback:
        return None if policy.allow_loopback else "it is a loopback address (FetchPolicy.allow_loopback is off)"
    if ip.is_link_local:
        return "it is a link-local address"
    if ip.is_multicast:
        return "it is a multicast address"
    if any(ip.version == net.version and ip in net for net in _PRIVATE_NETWORKS):
        return None if policy.allow_private else "it is a private address (FetchPolicy.allow_private is off)"
    if ip.is_reserved or not ip.is_global:
        return "it is a reserved or special-purpose address"
    return None


def _normalize_name(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _matches(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def check_domain(host: str, policy: FetchPolicy) -> None:
    """Apply the deny list, the allow list and the metadata host names to ``host``."""
    name = _normalize_name(host)
    ip = parse_ip(host)
    names = (name,) if ip is None else (name, str(ip))
    if ip is None and name in METADATA_HOSTS:
        raise BlockedSourceError(f"host {host!r} is a cloud metadata endpoint")
    if any(_matches(n, policy.denied_domains) for n in names):
        raise BlockedSourceError(f"host {host!r} is in FetchPolicy.denied_domains")
    if policy.allowed_domains is not None and not any(_matches(n, policy.allowed_domains) for n in names):
        raise BlockedSourceError(f"host {host!r} is not in FetchPolicy.allowed_domains")


def resolve(host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
    """All addresses ``host`` resolves to (one getaddrinfo call), within ``timeout`` seconds."""
    result: dict[str, object] = {}

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=lookup, name="st-multimodal-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise FetchError(f"resolving {host!r} took longer than {timeout:.2f} s", transient=True)
    error = result.get("error")
    if isinstance(error, socket.gaierror):
        transient = error.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
        raise FetchError(f"cannot resolve host {host!r}: {error}", transient=transient) from error
    if isinstance(error, BaseException):
        raise FetchError(f"cannot resolve host {host!r}: {error}", transient=True) from error
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in result["infos"]:  # type: ignore[union-attr]
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = parse_ip(str(sockaddr[0]))
        if ip is not None and ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchError(f"host {host!r} has no IPv4 or IPv6 address", transient=False)
    return addresses


def check_addresses(host: str, port: int, policy: FetchPolicy, *, timeout: float | None = None) -> list[str]:
    """Check ``host`` against ``policy``; return every address it denotes, all of them checked.

    A literal address (in any spelling) is checked as is; a name is resolved once and *every*
    address it resolves to must pass. Raises BlockedSourceError or FetchError.
    """
    check_domain(host, policy)
    literal = parse_ip(host)
    addresses = [literal] if literal is not None else resolve(_normalize_name(host) or host, port, timeout)
    for ip in addresses:
        reason = block_reason(ip, policy)
        if reason is not None:
            where = f"address {host!r}" if literal is not None else f"host {host!r} resolves to {ip}, which"
            raise BlockedSourceError(f"{where} is blocked: {reason}")
    return [str(ip) for ip in addresses]


def check_host(host: str, port: int, policy: FetchPolicy, *, timeout: float | None = None) -> str:
    """Check ``host`` like :func:`check_addresses` and return the one address to connect to."""
    return check_addresses(host, port, policy, timeout=timeout)[0]
