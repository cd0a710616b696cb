"""Hand the TLS client certificate from uvicorn's connection to the ASGI app.

uvicorn verifies the client certificate against the CA during the handshake
but does not put it in the request scope. This protocol subclass reads the
peer certificate once per connection and adds it to the scope's ``state``,
where the app's authentication middleware finds it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

#: Key of the DER client certificate in ``scope["state"]`` (None without one).
PEER_CERT_KEY = "madoguchi.peer_cert_der"


class MutualTlsProtocol(H11Protocol):
    """uvicorn's h11 protocol plus the peer certificate in every request's state."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        # app_state is copied into each request's scope["state"]; a per-connection
        # copy keeps one connection's certificate out of the others.
        self.app_state = {**self.app_state, PEER_CERT_KEY: der}
