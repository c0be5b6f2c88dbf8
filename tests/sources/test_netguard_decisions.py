"""netguard's decisions at their edges: exact reasons, inet_aton limits, embedded and mapped IPv4, resolver outcomes.

Written against behaviour (a host or address in, a decision out), so they hold whatever the implementation.
"""

from __future__ import annotations

import socket
import threading
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from st_multimodal.errors import BlockedSourceError, FetchError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources.netguard import block_reason, check_addresses, check_domain, check_host, parse_ip, resolve

LOOSE = FetchPolicy(allow_loopback=True, allow_private=True)
STRICT = FetchPolicy()


def teredo(server: str, client: str) -> IPv6Address:
    """The Teredo address (2001::/32) of ``client`` behind ``server`` (client bits inverted, as RFC 4380 says)."""
    return IPv6Address((0x2001_0000 << 96) | (int(IPv4Address(server)) << 64) | (int(IPv4Address(client)) ^ 0xFFFF_FFFF))


class Resolver:
    """A getaddrinfo stand-in: answers for known names (as TCP results), refuses everything else, logs calls."""

    def __init__(self, monkeypatch, answers: dict[str, list]):
        self.answers, self.calls = answers, []
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        self.calls.append((host, port, type))
        if type != socket.SOCK_STREAM:
            raise AssertionError("netguard resolves the TCP addresses it will connect to")
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        entries = self.answers[host]
        if isinstance(entries, BaseException):
            raise entries
        return [(family_of, socket.SOCK_STREAM, 6, "", (ip, port)) for family_of, ip in entries]


def v4(*ips: str) -> list:
    return [(socket.AF_INET, ip) for ip in ips]


class TestExactReasons:
    @pytest.mark.parametrize("address, reason", [
        ("169.254.169.254", "it is a cloud metadata endpoint"),
        ("0.0.0.0", "it is the unspecified address"),
        ("0.1.2.3", "it is the unspecified address"),  # all of 0.0.0.0/8
        ("127.0.0.1", "it is a loopback address (FetchPolicy.allow_loopback is off)"),
        ("169.254.1.1", "it is a link-local address"),
        ("224.0.0.1", "it is a multicast address"),
        ("10.1.2.3", "it is a private address (FetchPolicy.allow_private is off)"),
        ("192.0.2.1", "it is a reserved or special-purpose address"),
        ("64:ff9b::a00:1", "it embeds the blocked IPv4 address 10.0.0.1"),
    ])
    def test_reason(self, address, reason):
        assert block_reason(ip_address(address), STRICT) == reason

    def test_the_reason_reaches_the_error_with_the_host_as_written(self):
        with pytest.raises(BlockedSourceError) as info:
            check_host("127.1", 80, STRICT)
        assert str(info.value) == "address '127.1' is blocked: it is a loopback address (FetchPolicy.allow_loopback is off)"


class TestMappedAndEmbeddedIPv4:
    def test_mapped_addresses_follow_the_policy_of_their_ipv4(self):
        mapped = IPv6Address("::ffff:127.0.0.1")
        assert block_reason(mapped, STRICT) == block_reason(IPv4Address("127.0.0.1"), STRICT)
        assert block_reason(mapped, LOOSE) is None
        assert block_reason(IPv6Address("::ffff:8.8.8.8"), STRICT) is None

    def test_nat64_is_judged_by_its_own_range_once_its_ipv4_passes(self):
        assert block_reason(ip_address("64:ff9b::808:808"), STRICT) == "it is a reserved or special-purpose address"

    def test_teredo_client_is_checked(self):
        assert block_reason(teredo("8.8.8.8", "10.0.0.1"), STRICT) == "it embeds the blocked IPv4 address 10.0.0.1"
        assert "embeds" not in (block_reason(teredo("8.8.8.8", "9.9.9.9"), STRICT) or "")


class TestInetAtonLimits:
    @pytest.mark.parametrize("host, expected", [
        ("1.2.3.255", "1.2.3.255"), ("1.2.65535", "1.2.255.255"), ("1.16777215", "1.255.255.255"),
        ("4294967295", "255.255.255.255"), ("0x", "0.0.0.0"), ("0x.0x.0x.0x", "0.0.0.0"),
        ("[fe80::1%25a%25b]", "fe80::1"),
    ])
    def test_largest_values_still_parse(self, host, expected):
        assert parse_ip(host) == ip_address(expected)

    @pytest.mark.parametrize("host", [
        "1.2.3.256", "1.2.65536", "1.16777216", "4294967296",  # the last part overflows what is left
        "1.2.3.4.0", "1..2.3", ".1.2.3",  # five parts, an empty part
        "1_0.0.0.1", "+1.2.3.4", "1.2.3.-4", "\u0661\u0662\u0667.0.0.1",  # what int() takes but inet_aton does not
        "[::1", "::1]",  # unbalanced brackets
    ])
    def test_not_an_address(self, host):
        assert parse_ip(host) is None


class TestDomains:
    def test_allow_and_deny_lists_see_the_host_and_its_canonical_address(self):
        check_domain("example.com", FetchPolicy(denied_domains=("none",)))  # a name has no address to match
        with pytest.raises(BlockedSourceError, match="allowed_domains"):
            check_domain("0x08080808", FetchPolicy(allowed_domains=("8.8.4.4",)))
        check_domain("0x08080808", FetchPolicy(allowed_domains=("8.8.8.8",)))


class TestResolution:
    def test_literals_are_never_looked_up(self, monkeypatch):
        resolver = Resolver(monkeypatch, {})
        assert check_addresses("0x7f.1", 80, LOOSE) == ["127.0.0.1"]
        with pytest.raises(BlockedSourceError, match=r"^address '\[::1\]' is blocked"):
            check_host("[::1]", 80, STRICT)
        assert resolver.calls == []

    def test_names_are_looked_up_once_normalised_for_the_port(self, monkeypatch):
        resolver = Resolver(monkeypatch, {"a.test": v4("8.8.8.8")})
        assert check_host(" A.Test. ", 8443, STRICT) == "8.8.8.8"
        assert resolver.calls == [("a.test", 8443, socket.SOCK_STREAM)]

    def test_blocked_resolution_names_host_and_address(self, monkeypatch):
        Resolver(monkeypatch, {"b.test": v4("8.8.8.8", "10.0.0.7")})
        with pytest.raises(BlockedSourceError) as info:
            check_host("b.test", 80, STRICT)
        assert str(info.value) == ("host 'b.test' resolves to 10.0.0.7, which is blocked: "
                                   "it is a private address (FetchPolicy.allow_private is off)")

    def test_duplicates_and_other_families_are_dropped(self, monkeypatch):
        other_family = getattr(socket, "AF_UNIX", 1)
        Resolver(monkeypatch, {"c.test": [(other_family, "/x"), *v4("8.8.8.8", "8.8.8.8"), (socket.AF_INET6, "::ffff:8.8.8.8")]})
        assert check_addresses("c.test", 80, STRICT) == ["8.8.8.8"]

    def test_no_usable_address_is_a_permanent_error(self, monkeypatch):
        Resolver(monkeypatch, {"d.test": [(getattr(socket, "AF_UNIX", 1), "/x")]})
        with pytest.raises(FetchError) as info:
            resolve("d.test", 80)
        assert str(info.value) == "host 'd.test' has no IPv4 or IPv6 address" and info.value.transient is False

    @pytest.mark.parametrize("errno, transient", [
        (socket.EAI_AGAIN, True), (getattr(socket, "EAI_SYSTEM", socket.EAI_AGAIN), True),
        (socket.EAI_NONAME, False), (socket.EAI_FAIL, False),
    ])
    def test_lookup_failures_say_whether_to_retry(self, monkeypatch, errno, transient):
        Resolver(monkeypatch, {"e.test": socket.gaierror(errno, "lookup failed")})
        with pytest.raises(FetchError) as info:
            resolve("e.test", 80)
        assert info.value.transient is transient
        assert str(info.value) == "cannot resolve host 'e.test': [Errno %d] lookup failed" % errno

    def test_unexpected_lookup_errors_are_transient_fetch_errors(self, monkeypatch):
        Resolver(monkeypatch, {"f.test": UnicodeError("label too long")})
        with pytest.raises(FetchError) as info:
            resolve("f.test", 80)
        assert info.value.transient is True and str(info.value) == "cannot resolve host 'f.test': label too long"

    def test_a_stuck_lookup_cannot_keep_the_process_alive(self, monkeypatch):
        release = threading.Event()
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: release.wait(30) and [])
        try:
            with pytest.raises(FetchError, match="took longer than 0.10 s"):
                resolve("slow.test", 80, timeout=0.1)
            stuck = [t for t in threading.enumerate() if t.name == "st-multimodal-dns"]
            assert stuck and all(t.daemon for t in stuck)
        finally:
            release.set()
