"""netguard: host spellings, address classes, domain lists, resolution."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from st_multimodal.errors import BlockedSourceError, FetchError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources.netguard import block_reason, check_domain, check_host, parse_ip

LOOSE = FetchPolicy(allow_loopback=True, allow_private=True)
STRICT = FetchPolicy()


class TestParseIp:
    @pytest.mark.parametrize(
        "host, expected",
        [
            ("2130706433", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("127.0.0.1.", "127.0.0.1"),
            ("[::ffff:127.0.0.1]", "127.0.0.1"),
            ("::ffff:7f00:1", "127.0.0.1"),
            ("[fe80::1%25eth0]", "fe80::1"),
            ("fe80::1%eth0", "fe80::1"),
            ("[::1]", "::1"),
            ("0", "0.0.0.0"),
            ("8.8.8.8", "8.8.8.8"),
        ],
    )
    def test_spellings(self, host, expected):
        assert parse_ip(host) == ip_address(expected)

    @pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "09.1.1.1", "256.1.1.1", "1.2.3.4x", "", "::g"])
    def test_names_are_not_addresses(self, host):
        assert parse_ip(host) is None

    @settings(max_examples=200, deadline=None)
    @given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.lists(st.sampled_from("dxo"), min_size=4, max_size=4))
    def test_agrees_with_inet_aton(self, number, parts, styles):
        packed = number.to_bytes(4, "big")
        values = list(packed[: parts - 1]) + [int.from_bytes(packed[parts - 1 :], "big")]
        spelled = [
            {"d": str(v), "x": hex(v), "o": "0" + oct(v)[2:]}[style] for v, style in zip(values, styles)
        ]
        text = ".".join(spelled)
        assert parse_ip(text) == IPv4Address(number)
        assert socket.inet_aton(text) == packed


class TestBlockReason:
    @pytest.mark.parametrize(
        "address, word",
        [
            ("169.254.169.254", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("100.100.100.200", "metadata"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "reserved"),
            ("192.0.2.1", "reserved"),
        ],
    )
    def test_always_blocked(self, address, word):
        assert word in block_reason(ip_address(address), LOOSE)

    @pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1"])
    def test_loopback_needs_allow_loopback(self, address):
        assert "loopback" in block_reason(ip_address(address), STRICT)
        assert block_reason(ip_address(address), STRICT.replace(allow_loopback=True)) is None

    @pytest.mark.parametrize("address", ["10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "fd12::1"])
    def test_private_needs_allow_private(self, address):
        assert "private" in block_reason(ip_address(address), STRICT)
        assert block_reason(ip_address(address), STRICT.replace(allow_private=True)) is None

    @pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111"])
    def test_public_is_allowed(self, address):
        assert block_reason(ip_address(address), STRICT) is None

    @pytest.mark.parametrize("address", ["64:ff9b::a00:1", "2002:7f00:1::"])
    def test_embedded_ipv4_is_checked(self, address):
        assert "embeds" in block_reason(ip_address(address), STRICT)


class TestDomains:
    def test_allow_list_is_subdomain_aware(self):
        policy = FetchPolicy(allowed_domains=("example.com",))
        check_domain("example.com", policy)
        check_domain("cdn.img.EXAMPLE.com.", policy)
        for host in ("notexample.com", "example.com.evil.org", "example.co"):
            with pytest.raises(BlockedSourceError, match="allowed_domains"):
                check_domain(host, policy)

    def test_deny_list_wins_and_matches_canonical_addresses(self):
        policy = FetchPolicy(allowed_domains=("example.com", "127.0.0.1"), denied_domains=("bad.example.com",))
        with pytest.raises(BlockedSourceError, match="denied"):
            check_domain("x.bad.example.com", policy)
        check_domain("2130706433", policy)
        with pytest.raises(BlockedSourceError, match="denied"):
            check_domain("127.1", FetchPolicy(denied_domains=("127.0.0.1",)))

    def test_metadata_host_names_never_resolve(self, fake_dns):
        fake_dns.add("metadata.google.internal", ["8.8.8.8"])
        with pytest.raises(BlockedSourceError, match="metadata"):
            check_host("Metadata.Google.Internal.", 80, LOOSE)
        assert fake_dns.calls == []


class TestCheckHost:
    def test_returns_the_checked_address_after_one_lookup(self, fake_dns):
        fake_dns.add("a.test", ["8.8.8.8", "8.8.4.4"], ["10.0.0.1"])
        assert check_host("a.test", 443, STRICT) == "8.8.8.8"
        assert fake_dns.calls == ["a.test"]

    def test_any_blocked_address_blocks_the_host(self, fake_dns):
        fake_dns.add("b.test", ["8.8.8.8", "::ffff:169.254.169.254"])
        with pytest.raises(BlockedSourceError, match="169.254.169.254.*metadata"):
            check_host("b.test", 80, LOOSE)

    def test_unresolvable_host_is_a_fetch_error(self, monkeypatch):
        def fail(*args, **kwargs):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", fail)
        with pytest.raises(FetchError, match="cannot resolve") as info:
            check_host("nowhere.test", 80, STRICT)
        assert not info.value.transient and not isinstance(info.value, BlockedSourceError)

    def test_slow_resolver_is_bounded_by_the_timeout(self, monkeypatch):
        import threading

        release = threading.Event()
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: release.wait(5) and [])
        with pytest.raises(FetchError, match="longer than") as info:
            check_host("slow.test", 80, STRICT, timeout=0.2)
        release.set()
        assert info.value.transient
