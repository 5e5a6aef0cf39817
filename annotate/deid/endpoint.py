"""Is a model endpoint on this machine? The rule that decides whether text must be
de-identified before a request leaves (``draft`` de-identifies by default whenever it
is not).

An endpoint is local when its host is ``localhost`` (or a ``.localhost`` name), a
loopback address (127.0.0.0/8, ::1, an IPv4-mapped loopback), or a name that resolves,
within ``RESOLVE_SECONDS``, to loopback addresses only. Everything else is remote: a
name that does not resolve (or not in time), a LAN address, this machine's own
non-loopback address, no URL at all (the OpenAI API). A proxy in the environment
(``HTTP(S)_PROXY``, ``ALL_PROXY``) would carry the request: then the proxy must be
local too, whatever ``NO_PROXY`` says (HTTP clients read it differently; doubt means
de-identify).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.request
from urllib.parse import urlsplit

RESOLVE_SECONDS = 2.0  # a name not resolved by then is taken as remote
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_PROXY_SCHEMES = ("all",)  # besides the URL's own scheme


def is_local(base_url: str | None, *, timeout: float = RESOLVE_SECONDS) -> bool:
    """Whether requests to ``base_url`` stay on this machine (see the module's rule).

    None or an empty URL means the default endpoint, the OpenAI API: not local.
    """
    if not base_url:
        return False
    try:
        parts = urlsplit(base_url.strip())
        host = parts.hostname
    except ValueError:  # a malformed port or IPv6 literal
        return False
    if not host or not _host_is_local(host, timeout):
        return False
    scheme = (parts.scheme or "http").lower()
    proxies = urllib.request.getproxies_environment()
    for name in (scheme, *_PROXY_SCHEMES):
        proxy = proxies.get(name)
        if proxy and not _proxy_is_local(proxy, timeout):
            return False
    return True


def _proxy_is_local(proxy: str, timeout: float) -> bool:
    try:
        host = urlsplit(proxy if "://" in proxy else f"http://{proxy}").hostname
    except ValueError:
        return False
    return bool(host) and _host_is_local(host or "", timeout)


def _host_is_local(host: str, timeout: float) -> bool:
    name = host.strip().rstrip(".").lower()
    if not name:
        return False
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    literal = _address(name)
    if literal is not None:
        return _loopback(literal)
    addresses = _resolve(name, timeout)
    return bool(addresses) and all(_loopback(address) for address in addresses)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone id is no part of it
    except ValueError:
        return None


def _loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _resolve(name: str, timeout: float) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses ``name`` resolves to; [] when it does not resolve within ``timeout``
    (the lookup runs in a daemon thread, so a hung resolver delays nothing longer)."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    done = threading.Event()

    def look_up() -> None:
        try:
            for *_, sockaddr in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP):
                address = _address(str(sockaddr[0]))
                if address is None:  # an address of no IP family: not known to be local
                    found.clear()
                    found.append(ipaddress.ip_address("0.0.0.0"))
                    break
                found.append(address)
        except (OSError, UnicodeError, ValueError):
            found.clear()
        finally:
            done.set()

    threading.Thread(target=look_up, name="deid-resolve", daemon=True).start()
    if not done.wait(timeout):
        return []
    return list(found)
