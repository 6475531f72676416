"""uvicorn's HTTP/1.1 protocol, answering a request it cannot parse in the contract's
envelope.

A request line with raw bytes in it, a ``Content-Length: -1`` or any other request
httptools refuses never reaches the app: uvicorn answers it itself, with a plain-text
400. Apps parse every error body as ``{"success": false, "error": {...}}``, so this
answers the same 400 as JSON, and closes the connection as uvicorn does (the stream
cannot be trusted past a bad request).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from homesync.errors import ValidationError

__all__ = ["EnvelopeHttpToolsProtocol"]

_BODY = ValidationError("Malformed HTTP request").envelope_json()


class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
    """httptools' protocol with a JSON 400 for requests it cannot parse."""

    def send_400_response(self, msg: str) -> None:
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n",
                 b"content-length: ", str(len(_BODY)).encode("ascii"), b"\r\n",
                 b"connection: close\r\n\r\n", _BODY]
        self.transport.write(b"".join(head))
        self.transport.close()
