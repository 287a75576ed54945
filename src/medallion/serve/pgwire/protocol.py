"""PostgreSQL protocol v3 framing: the client's messages read, the server's written.

Messages are `type byte, int32 length (itself included), body`; the startup packet has no type
byte. Writes are buffered and flushed when the client waits for an answer (ReadyForQuery, an
authentication request), so a result of many rows leaves in large sends."""

from __future__ import annotations

import struct
from typing import Any

from medallion.errors import MedallionError

PROTOCOL_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

_I32 = struct.Struct("!i")
_I16 = struct.Struct("!h")
_HEAD = struct.Struct("!ci")

#: the fields of an ErrorResponse / NoticeResponse
SEVERITY, SEVERITY_V, CODE, MESSAGE, DETAIL, HINT, POSITION = "S", "V", "C", "M", "D", "H", "P"


class ClientGone(Exception):
    """The client closed the connection (or broke the framing)."""


class PgError(MedallionError):
    """An error answered to the client as an ErrorResponse with this SQLSTATE."""

    def __init__(
        self,
        sqlstate: str,
        message: str,
        *,
        hint: str | None = None,
        severity: str = "ERROR",
        position: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.sqlstate = sqlstate
        self.severity = severity
        self.position = position


class Connection:
    """A socket (plain or TLS) with a read buffer and a write buffer."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._in = bytearray()
        self._out: list[bytes] = []
        self._out_size = 0

    # -- reading ---------------------------------------------------------------------------

    def _fill(self, n: int) -> None:
        while len(self._in) < n:
            chunk = self.sock.recv(max(65536, n - len(self._in)))
            if not chunk:
                raise ClientGone()
            self._in += chunk

    def read_exact(self, n: int) -> bytes:
        self._fill(n)
        data = bytes(self._in[:n])
        del self._in[:n]
        return data

    def pending(self) -> bool:
        """Bytes already received but not read (must be none when TLS starts)."""
        return bool(self._in)

    def read_startup(self) -> tuple[int, bytes]:
        (length,) = _I32.unpack(self.read_exact(4))
        if length < 8 or length > 10_000:
            raise ClientGone()
        body = self.read_exact(length - 4)
        return _I32.unpack(body[:4])[0], body[4:]

    def read_message(self) -> tuple[bytes, bytes]:
        kind, length = _HEAD.unpack(self.read_exact(5))
        if length < 4 or length > 1 << 30:
            raise ClientGone()
        return kind, self.read_exact(length - 4)

    # -- writing ---------------------------------------------------------------------------

    def send(self, kind: bytes, body: bytes = b"") -> None:
        self.send_raw(_HEAD.pack(kind, len(body) + 4) + body)

    def send_raw(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)
        if self._out_size >= 1 << 18:
            self.flush()

    def flush(self) -> None:
        if self._out:
            self.sock.sendall(b"".join(self._out))
            self._out.clear()
            self._out_size = 0

    # -- the server's messages -----------------------------------------------------------------

    def auth(self, code: int, data: bytes = b"") -> None:
        self.send(b"R", _I32.pack(code) + data)
        self.flush()

    def parameter_status(self, name: str, value: str) -> None:
        self.send(b"S", cstr(name) + cstr(value))

    def ready(self, status: bytes) -> None:
        self.send(b"Z", status)
        self.flush()

    def command_complete(self, tag: str) -> None:
        self.send(b"C", cstr(tag))

    def error(self, err: PgError) -> None:
        fields = [
            (SEVERITY, err.severity),
            (SEVERITY_V, err.severity),
            (CODE, err.sqlstate),
            (MESSAGE, err.message),
        ]
        if err.hint:
            fields.append((HINT, err.hint))
        if err.position:
            fields.append((POSITION, str(err.position)))
        self.send(b"E", b"".join(k.encode() + cstr(v) for k, v in fields) + b"\0")

    def notice(self, message: str, severity: str = "NOTICE") -> None:
        code = "01000" if severity == "WARNING" else "00000"
        fields = [(SEVERITY, severity), (SEVERITY_V, severity), (CODE, code), (MESSAGE, message)]
        self.send(b"N", b"".join(k.encode() + cstr(v) for k, v in fields) + b"\0")


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


class Reader:
    """Reads the fields of one message body."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def cstr(self) -> str:
        end = self.body.index(b"\0", self.pos)
        text = self.body[self.pos : end].decode()
        self.pos = end + 1
        return text

    def i16(self) -> int:
        (v,) = _I16.unpack_from(self.body, self.pos)
        self.pos += 2
        return v

    def i32(self) -> int:
        (v,) = _I32.unpack_from(self.body, self.pos)
        self.pos += 4
        return v

    def bytes(self, n: int) -> bytes:
        data = self.body[self.pos : self.pos + n]
        self.pos += n
        return data

    def rest(self) -> bytes:
        data = self.body[self.pos :]
        self.pos = len(self.body)
        return data


def startup_params(body: bytes) -> dict[str, str]:
    parts = body.split(b"\0")
    out: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        if not parts[i]:
            break
        out[parts[i].decode()] = parts[i + 1].decode()
    return out
