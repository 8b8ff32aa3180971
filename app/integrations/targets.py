"""Which addresses a connection's requests may reach: the guard against server-side request
forgery.

A connection's store and Zoho URLs are typed in by whoever holds the API token, and every call to
them carries secrets and leaves from inside the deployment's network. So in production the
service refuses hosts that are, or resolve to, an address off the public internet: loopback,
private, link-local (169.254.169.254 is the cloud metadata service), shared (100.64.0.0/10),
multicast, unspecified and reserved ranges, in their IPv4-mapped IPv6 forms too.

The policy is checked twice:
- when a URL is saved (`TargetPolicy.check_url`): the host is resolved and every address it
  has must be allowed, so the operator hears of a bad URL at once (one that does not resolve is
  refused too);
- when a client connects (`TargetPolicy.transport`), by resolve-then-pin: the transport's network
  backend resolves the host itself, refuses when any of its addresses is forbidden, and opens the
  socket to an address it has just checked, never to the name again. A DNS answer that changes
  between the check and the connect (DNS rebinding) therefore cannot slip through, and nothing is
  sent to, nor any TCP handshake made with, a forbidden address. TLS still checks the
  certificate against the URL's host name: httpcore gives the TLS layer the name, not the address.

A guarded client does not use proxies from the environment (HTTPS_PROXY and the like): behind a
proxy the address checked would be the proxy's, not the target's.

A refusal at connect time is a verdict, not an outage: the client raises its vendor's
non-retryable request error (`refuse`), so a run fails with the reason instead of pausing and
retrying. Development and test allow every address (the simulators listen on loopback), and so
does `ALLOW_PRIVATE_TARGETS=true`, for a deployment whose store lives on its own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

SHARED_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; not is_private before 3.13
# Most specific first: 127.0.0.1 is private too, but "loopback" says more.
_KINDS = (("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_multicast", "multicast"),
          ("is_unspecified", "unspecified"), ("is_reserved", "reserved"), ("is_private", "private"))
RESOLVE_TIMEOUT_S = 10.0
DEFAULT_PORTS = {"http": 80, "https": 443}

Resolver = Callable[[str, int], Awaitable[list[str]]]


class TargetRefused(Exception):
    """The host is, or resolves to, an address this deployment may not call."""


def forbidden_kind(address: str) -> str | None:
    """What kind of forbidden address `address` is ("loopback", ...), None when it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    if ip in SHARED_SPACE:
        return "shared (carrier-grade NAT)"
    return next((kind for attribute, kind in _KINDS if getattr(ip, attribute)), None)


async def resolve(host: str, port: int) -> list[str]:
    """Every address the event loop's resolver gives for `host`; an IP literal gives itself."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """`enforce` off: every address is allowed and clients use httpx's default transport.
    `resolver` and `forbidden` are what tests swap out (a stub DNS, a rule that admits loopback)."""

    enforce: bool
    resolver: Resolver = resolve
    forbidden: Callable[[str], str | None] = forbidden_kind

    @classmethod
    def for_deployment(cls, *, environment: str, allow_private_targets: bool) -> TargetPolicy:
        """Enforced in production, unless the operator allows private targets."""
        return cls(enforce=environment == "production" and not allow_private_targets)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host`, every one allowed; TargetRefused names the first that is not."""
        addresses = await self.resolver(host, port)
        if not addresses:
            raise OSError(f"{host} has no address")
        for address in addresses:
            kind = self.forbidden(address)
            if kind is not None:
                where = f"{host} is" if address == host else f"{host} resolves to {address},"
                raise TargetRefused(f"{where} a {kind} address; this deployment calls public addresses only "
                                    "(ALLOW_PRIVATE_TARGETS=true allows it)")
        return addresses

    async def check_url(self, url: str) -> None:
        """Raise TargetRefused when the policy is enforced and `url`'s host is forbidden or
        cannot be resolved."""
        if not self.enforce:
            return
        parsed = httpx.URL(url)
        port = parsed.port or DEFAULT_PORTS.get(parsed.scheme, 443)
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                await self.addresses(parsed.host, port)
        except (OSError, TimeoutError) as exc:
            raise TargetRefused(f"{parsed.host} cannot be resolved ({exc or type(exc).__name__})") from exc

    def transport(self, *, verify: ssl.SSLContext | bool,
                  refuse: Callable[[str], Exception]) -> httpx.AsyncBaseTransport | None:
        """A transport that connects to allowed addresses only and raises `refuse(reason)` for
        the rest; None (httpx's default transport) when the policy is not enforced."""
        if not self.enforce:
            return None
        return _PinnedTransport(_PinnedBackend(self, refuse), verify=verify)


OPEN = TargetPolicy(enforce=False)  # every address allowed: development, test, ALLOW_PRIVATE_TARGETS


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address itself (see the module docstring)."""

    def __init__(self, policy: TargetPolicy, refuse: Callable[[str], Exception]) -> None:
        self._policy = policy
        self._refuse = refuse
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._policy.addresses(host, port)
        except TargetRefused as exc:
            raise self._refuse(f"the connection points at a forbidden address: {exc}") from exc
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:  # the resolver failed: an outage, retried like any connect error
            raise httpcore.ConnectError(f"{host} cannot be resolved: {exc}") from exc
        for address in addresses[:-1]:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue  # the next checked address
        return await self._inner.connect_tcp(addresses[-1], port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that connects through `backend`.

    httpx offers no way to hand its pool a network backend, so the pool it built is replaced by
    one made with httpcore's public API, with httpx's default limits and TLS context.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, *, verify: ssl.SSLContext | bool) -> None:
        ssl_context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context, network_backend=backend,
                                                  max_connections=100, max_keepalive_connections=20,
                                                  keepalive_expiry=5.0)
