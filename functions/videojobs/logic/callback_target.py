"""Where a callback may be sent: the checks on ``callback_url``, at creation and at delivery.

A callback URL is a request this service makes on a caller's behalf from inside AWS, so it
must not reach anything a caller could not reach themselves: private networks, loopback,
link-local (the instance metadata service at 169.254.169.254 / fd00:ec2::254), CGNAT,
multicast, reserved and unspecified addresses, including IPv4 addresses dressed as IPv6
(mapped, 6to4, NAT64, Teredo). Every address a host resolves to must pass, not just the
first, and delivery resolves again and connects only to the addresses that passed
(:func:`resolve_safe_addresses`), so a DNS answer that changes after creation (rebinding)
reaches nothing new. Only https on port 443 or 8443 is accepted (the local stack alone may
call back over http to this machine). Error messages never echo the URL: its query may hold a
token.

The same guard judges where the provider may redirect a content download
(:func:`provider_redirect_addresses`): a CDN link is followed only to https on public
addresses, and the download connects to the address that was checked.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from videojobs.models.api import CALLBACK_URL_MAX_CHARS
from videojobs.models.errors import InvalidRequestError, ProviderRejectedError
from videojobs.settings import get_settings

_PARAM = "callback_url"
# Ports a callback may use: the standard https port and its usual alternative. Anything else
# would let a caller aim our requests at arbitrary services of a public host.
CALLBACK_PORTS = frozenset({443, 8443})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


def _invalid(message: str, code: str = "invalid_callback_url") -> InvalidRequestError:
    return InvalidRequestError(message, param=_PARAM, code=code)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (and would be routed to)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in network for network in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _forbidden(address: IPAddress) -> bool:
    if address in _METADATA or (address.version == 4 and address in _CGNAT):
        return True
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        return any(_forbidden(inner) for inner in _embedded_ipv4(address))
    return False


def _is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _parse(url: str) -> tuple[SplitResult, str, int]:
    if not url:
        raise _invalid("callback_url must not be empty.")
    if len(url) > CALLBACK_URL_MAX_CHARS:
        raise _invalid(f"callback_url must be at most {CALLBACK_URL_MAX_CHARS} characters.")
    if not url.isascii() or any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in url):
        raise _invalid("callback_url must be plain ASCII without spaces (percent-encode it).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _invalid("callback_url is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise _invalid("callback_url must be an https URL.")
    if "@" in parts.netloc:
        raise _invalid("callback_url must not contain a user name or password.")
    host = parts.hostname
    if not host:
        raise _invalid("callback_url must name a host.")
    return parts, host, port or (443 if scheme == "https" else 80)


def _lookup(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        # An IPv6 link-local answer may carry a zone ("fe80::1%eth0"); the address is what counts.
        text = str(sockaddr[0]).split("%", 1)[0]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address not in addresses:
            addresses.append(address)
    return addresses


def _resolve(host: str, port: int) -> list[IPAddress]:
    addresses = _lookup(host, port)
    if not addresses:
        raise _invalid("callback_url's host does not resolve.", "callback_url_unresolvable")
    return addresses


def _local_loopback(addresses: list[IPAddress]) -> bool:
    """Only the local stack talks to this machine, and plain http is fine there."""
    return get_settings().local_mode and all(_is_loopback(a) for a in addresses)


def _checked_addresses(url: str) -> tuple[str, list[IPAddress]]:
    parts, host, port = _parse(url)
    addresses = _resolve(host, port)
    if _local_loopback(addresses):
        return parts.geturl(), addresses
    if parts.scheme.lower() != "https":
        raise _invalid("callback_url must be an https URL.")
    if port not in CALLBACK_PORTS:
        raise _invalid("callback_url must use port 443 or 8443.")
    if any(_forbidden(address) for address in addresses):
        raise _invalid(
            "callback_url must resolve to public internet addresses only (not private, "
            "loopback, link-local, shared or metadata addresses).",
            "callback_url_forbidden",
        )
    return parts.geturl(), addresses


def validate_callback_url(url: str) -> str:
    """``url`` if callbacks may be sent there; otherwise :class:`InvalidRequestError`.

    Rules: https on port 443 or 8443 (http only to loopback, and only in local mode); no user
    info; at most 2048 characters; every address the host resolves to is a public one.
    """
    checked, _ = _checked_addresses(url)
    return checked


def resolve_safe_addresses(url: str) -> list[str]:
    """The addresses to connect to for a delivery to ``url``, resolved now.

    Raises :class:`InvalidRequestError` when the URL is no longer acceptable (for example, its
    host now resolves to a private address). Connect to one of these addresses (with the
    URL's host in ``Host`` and SNI), never to a fresh resolution of the name.
    """
    _, addresses = _checked_addresses(url)
    return [str(address) for address in addresses]


def provider_redirect_addresses(scheme: str, host: str, port: int) -> list[str]:
    """The checked addresses to connect to for a provider redirect to ``host``.

    A content download may be redirected (to a CDN, say); it is followed only to https and
    only when every address the host resolves to is a public one, under the same rules as
    callbacks (loopback over http too in local mode). Raises :class:`ProviderRejectedError`
    (code ``redirect_refused``) otherwise: the provider's answer cannot be used.
    """
    https = scheme.lower() == "https"
    addresses = _lookup(host, port) if https or get_settings().local_mode else []
    if addresses and _local_loopback(addresses):
        return [str(address) for address in addresses]
    if not https:
        raise ProviderRejectedError(
            "The provider redirected a download to a URL that is not https.",
            code="redirect_refused",
        )
    if not addresses or any(_forbidden(address) for address in addresses):
        raise ProviderRejectedError(
            "The provider redirected a download to a host that does not resolve to public "
            "internet addresses only.",
            code="redirect_refused",
        )
    return [str(address) for address in addresses]
