"""callback_url: https to public addresses only, judged on every address the host resolves to,
at creation and again at delivery (so a DNS answer that changes later reaches nothing new).
Name resolution is faked: these tests never touch the network."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from videojobs.logic.callback_target import (
    provider_redirect_addresses,
    resolve_safe_addresses,
    validate_callback_url,
)
from videojobs.models.errors import InvalidRequestError, ProviderRejectedError
from videojobs.settings import get_settings

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

DNS: dict[str, list[str]] = {
    "hooks.example.com": [PUBLIC_V4],
    "dual.example.com": [PUBLIC_V4, PUBLIC_V6],
    "v6.example.com": [PUBLIC_V6],
    "private.example.com": ["10.1.2.3"],
    "mixed.example.com": [PUBLIC_V4, "192.168.0.10"],
    "metadata.example.com": ["169.254.169.254"],
    "ec2v6.example.com": ["fd00:ec2::254"],
    "cgnat.example.com": ["100.64.12.1"],
    "loopback.example.com": ["127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "sixtofour.example.com": ["2002:a9fe:a9fe::1"],
    "nat64.example.com": ["64:ff9b::a9fe:a9fe"],
    "multicast.example.com": ["224.0.0.251"],
    "linklocal6.example.com": ["fe80::1%eth0"],
}


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """A fake getaddrinfo over ``DNS`` (tests may change the answers); literals pass through."""
    answers = {name: list(addresses) for name, addresses in DNS.items()}

    def fake_getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        found = answers.get(host)
        if found is None:
            if host.replace(".", "").isdigit() or ":" in host:
                found = [host]
            else:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in found
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    yield answers


@pytest.fixture(autouse=True)
def deployed_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    monkeypatch.delenv("VIDEOJOBS_LOCAL_MODE", raising=False)
    get_settings.cache_clear()

    def local_mode() -> None:
        monkeypatch.setenv("VIDEOJOBS_LOCAL_MODE", "true")
        get_settings.cache_clear()

    yield local_mode
    get_settings.cache_clear()


def refused(url: str) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        validate_callback_url(url)
    assert caught.value.param == "callback_url"
    return caught.value


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/videojobs",
        "https://hooks.example.com:8443/cb?token=abc",
        "https://dual.example.com/",
        "https://v6.example.com/x",
        f"https://{PUBLIC_V4}/hook",
        f"https://[{PUBLIC_V6}]/hook",
        "https://hooks.example.com:443/cb",
    ],
)
def test_https_urls_of_public_hosts_are_accepted(resolver: object, url: str) -> None:
    assert validate_callback_url(url) == url


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/", "invalid_callback_url"),
        ("ftp://hooks.example.com/", "invalid_callback_url"),
        ("hooks.example.com/cb", "invalid_callback_url"),
        ("https:///cb", "invalid_callback_url"),
        ("https://user:pass@hooks.example.com/", "invalid_callback_url"),
        ("https://token@hooks.example.com/", "invalid_callback_url"),
        ("https://hooks.example.com:99999/", "invalid_callback_url"),
        ("https://hooks.example.com:22/", "invalid_callback_url"),
        ("https://hooks.example.com:80/", "invalid_callback_url"),
        ("https://hooks.example.com:6379/cb", "invalid_callback_url"),
        ("https://hooks.example.com:8080/cb", "invalid_callback_url"),
        ("http://hooks.example.com:443/", "invalid_callback_url"),
        ("https://[::1/", "invalid_callback_url"),
        ("https://hooks.example.com/a b", "invalid_callback_url"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "invalid_callback_url"),
        ("https://hööks.example.com/", "invalid_callback_url"),
        ("https://hooks.example.com/" + "a" * 2048, "invalid_callback_url"),
        ("", "invalid_callback_url"),
        ("https://nowhere.invalid/", "callback_url_unresolvable"),
        ("https://private.example.com/", "callback_url_forbidden"),
        ("https://mixed.example.com/", "callback_url_forbidden"),
        ("https://metadata.example.com/latest/meta-data", "callback_url_forbidden"),
        ("https://169.254.169.254/latest/meta-data", "callback_url_forbidden"),
        ("https://ec2v6.example.com/", "callback_url_forbidden"),
        ("https://[fd00:ec2::254]/", "callback_url_forbidden"),
        ("https://cgnat.example.com/", "callback_url_forbidden"),
        ("https://loopback.example.com/", "callback_url_forbidden"),
        ("https://localhost/", "callback_url_forbidden"),
        ("https://127.0.0.1/", "callback_url_forbidden"),
        ("https://[::1]/", "callback_url_forbidden"),
        ("https://0.0.0.0/", "callback_url_forbidden"),
        ("https://[::]/", "callback_url_forbidden"),
        ("https://mapped.example.com/", "callback_url_forbidden"),
        ("https://[::ffff:169.254.169.254]/", "callback_url_forbidden"),
        ("https://sixtofour.example.com/", "callback_url_forbidden"),
        ("https://nat64.example.com/", "callback_url_forbidden"),
        ("https://multicast.example.com/", "callback_url_forbidden"),
        ("https://linklocal6.example.com/", "callback_url_forbidden"),
        ("https://172.16.0.1/", "callback_url_forbidden"),
        ("https://192.0.2.1/", "callback_url_forbidden"),
        ("https://240.0.0.1/", "callback_url_forbidden"),
        ("https://255.255.255.255/", "callback_url_forbidden"),
    ],
)
def test_unsafe_or_malformed_urls_are_refused(resolver: object, url: str, code: str) -> None:
    # Given a URL that is not https, not well formed, or reaches a non-public address
    error = refused(url)
    # Then it is refused with a reason, and the URL (which may hold a token) is not echoed
    assert error.code == code
    assert "example.com" not in error.message


def test_the_refusal_never_echoes_a_token_in_the_url(resolver: object) -> None:
    error = refused("https://private.example.com/cb?token=s3cr3t")
    assert "s3cr3t" not in error.message


def test_local_mode_allows_http_to_loopback_only(
    resolver: object, deployed_settings: Callable[[], None]
) -> None:
    # Given the local stack
    deployed_settings()
    # Then loopback is reachable, over http too
    assert validate_callback_url("http://127.0.0.1:8123/cb") == "http://127.0.0.1:8123/cb"
    assert validate_callback_url("http://localhost:8123/cb") == "http://localhost:8123/cb"
    assert validate_callback_url("https://[::1]:8443/cb") == "https://[::1]:8443/cb"
    # But plain http to anything else, and private networks, stay refused
    assert refused("http://hooks.example.com/").code == "invalid_callback_url"
    assert refused("https://private.example.com/").code == "callback_url_forbidden"
    assert refused("http://mixed.example.com/").code == "invalid_callback_url"
    assert refused("https://hooks.example.com:9000/").code == "invalid_callback_url"


def test_a_refused_port_is_named_in_the_reason(resolver: object) -> None:
    error = refused("https://hooks.example.com:2375/cb?token=s3cr3t")
    assert error.message == "callback_url must use port 443 or 8443."


def test_delivery_gets_the_addresses_to_connect_to(resolver: object) -> None:
    assert resolve_safe_addresses("https://dual.example.com/cb") == [PUBLIC_V4, PUBLIC_V6]


def test_a_host_rebound_to_a_private_address_after_creation_is_refused_at_delivery(
    resolver: dict[str, list[str]],
) -> None:
    # Given a callback URL accepted while its host resolved to a public address
    url = "https://hooks.example.com/cb"
    assert validate_callback_url(url) == url
    # When the DNS answer changes to the metadata service (a rebinding attack)
    resolver["hooks.example.com"] = ["169.254.169.254"]
    # Then delivery resolves afresh and refuses it
    with pytest.raises(InvalidRequestError) as caught:
        resolve_safe_addresses(url)
    assert caught.value.code == "callback_url_forbidden"


def test_a_host_that_adds_a_private_address_to_its_answer_is_refused(
    resolver: dict[str, list[str]],
) -> None:
    # Given a host whose answer mixes a public and a loopback address (round-robin rebinding)
    resolver["hooks.example.com"] = [PUBLIC_V4, "127.0.0.1"]
    # Then every address is judged, not just the first
    with pytest.raises(InvalidRequestError):
        resolve_safe_addresses("https://hooks.example.com/cb")


# --- provider redirects ----------------------------------------------------------------------


def test_a_provider_redirect_to_a_public_https_host_gets_its_checked_addresses(
    resolver: object,
) -> None:
    assert provider_redirect_addresses("https", "dual.example.com", 443) == [PUBLIC_V4, PUBLIC_V6]


@pytest.mark.parametrize(
    ("scheme", "host"),
    [
        ("http", "hooks.example.com"),
        ("https", "metadata.example.com"),
        ("https", "169.254.169.254"),
        ("https", "mixed.example.com"),
        ("https", "private.example.com"),
        ("https", "localhost"),
        ("https", "nowhere.invalid"),
    ],
)
def test_a_provider_redirect_off_the_public_internet_or_to_http_is_refused(
    resolver: object, scheme: str, host: str
) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        provider_redirect_addresses(scheme, host, 443)
    assert caught.value.code == "redirect_refused"


def test_local_mode_follows_provider_redirects_to_loopback_only(
    resolver: object, deployed_settings: Callable[[], None]
) -> None:
    deployed_settings()
    assert provider_redirect_addresses("http", "localhost", 8123) == ["127.0.0.1", "::1"]
    with pytest.raises(ProviderRejectedError):
        provider_redirect_addresses("http", "hooks.example.com", 80)
