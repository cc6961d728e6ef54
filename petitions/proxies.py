"""Forwarding headers (``X-Forwarded-For``, ``-Proto``, ``-Host``) from trusted proxies only.

With ``TRUSTED_PROXIES`` above 0, Werkzeug's ``ProxyFix`` takes the client's address
from ``X-Forwarded-For``. On its own it believes whoever sends the header: a client
that reaches the app's port directly could choose its address, and with it the rate
limits and IP digests it is counted under. Here ``ProxyFix`` is applied only to a
request whose peer (``REMOTE_ADDR``) is in ``TRUSTED_PROXY_ADDRESSES``; from anyone
else the forwarding headers are dropped and the peer's own address stands.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class TrustedProxyFix:
    """WSGI middleware: ``ProxyFix`` for requests from the trusted proxies only."""

    def __init__(self, app: WSGIApplication, *, proxies: int, trusted: Iterable[str]) -> None:
        self.app = app
        self.proxy_fix = ProxyFix(app, x_for=proxies, x_proto=1, x_host=1)
        self.trusted = tuple(ipaddress.ip_network(item, strict=False) for item in trusted)

    def is_trusted(self, remote_addr: str | None) -> bool:
        try:
            address = ipaddress.ip_address(remote_addr or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.trusted)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        if self.is_trusted(environ.get("REMOTE_ADDR")):
            return self.proxy_fix(environ, start_response)
        for key in [k for k in environ if k.startswith("HTTP_X_FORWARDED_")]:
            del environ[key]
        return self.app(environ, start_response)

