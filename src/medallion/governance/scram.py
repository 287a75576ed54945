"""SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL does it: verifiers and the server's side.

A password is never stored: `make_verifier` turns it into PostgreSQL's verifier text
`SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>`, the same string
`pg_authid.rolpassword` holds, so a verifier can move between medallion and PostgreSQL.
`ScramServer` runs one exchange against a verifier: client-first -> server-first, client-final
-> server-final (or a `ScramError` saying why the login fails). Standard library only
(hashlib.pbkdf2_hmac, hmac, secrets), no third-party SCRAM package.

PostgreSQL clients send an empty user name in client-first (the name travels in the startup
message); the exchange ignores it, as PostgreSQL does. Channel binding (SCRAM-SHA-256-PLUS,
tls-server-end-point) is verified when the server passes the binding data it expects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass

from medallion.errors import ScramError  # defined there so faces can catch it; used here

MECHANISM = "SCRAM-SHA-256"
MECHANISM_PLUS = "SCRAM-SHA-256-PLUS"
DEFAULT_ITERATIONS = 4096
SALT_BYTES = 16
NONCE_BYTES = 18


@dataclass(frozen=True)
class Verifier:
    """The parts of a stored SCRAM-SHA-256 verifier."""

    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    def __str__(self) -> str:
        return (
            f"{MECHANISM}${self.iterations}:{_b64(self.salt)}"
            f"${_b64(self.stored_key)}:{_b64(self.server_key)}"
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as err:
        raise ScramError(f"{what} is not base64") from err


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def saslprep(password: str) -> str:
    """RFC 4013 SASLprep of a password; like PostgreSQL, a password that SASLprep refuses
    (prohibited or bidi-invalid characters) is used as given rather than rejected."""
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in password
        if not stringprep.in_table_b1(ch)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    if not normal:
        return password
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    if any(check(ch) for ch in normal for check in prohibited):
        return password
    if any(stringprep.in_table_d1(ch) for ch in normal):
        if any(stringprep.in_table_d2(ch) for ch in normal):
            return password
        if not (stringprep.in_table_d1(normal[0]) and stringprep.in_table_d1(normal[-1])):
            return password
    return normal


def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)


def make_verifier(
    password: str, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier text for `password` (a random 16-byte salt unless
    one is given)."""
    if iterations < 1:
        raise ScramError(f"SCRAM iterations must be at least 1, not {iterations}")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    salted = salted_password(password, salt, iterations)
    stored_key = _h(_hmac(salted, b"Client Key"))
    server_key = _hmac(salted, b"Server Key")
    return str(Verifier(iterations, salt, stored_key, server_key))


def parse_verifier(text: str) -> Verifier:
    """The parts of a verifier text; ScramError when it is not PostgreSQL's format."""
    try:
        mech, head, keys = text.split("$")
        iter_text, salt_text = head.split(":")
        stored_text, server_text = keys.split(":")
    except ValueError as err:
        raise ScramError(
            "not a SCRAM-SHA-256 verifier",
            hint="expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>",
        ) from err
    if mech != MECHANISM:
        raise ScramError(f"not a SCRAM-SHA-256 verifier (mechanism {mech!r})")
    if not iter_text.isdigit() or int(iter_text) < 1:
        raise ScramError(f"SCRAM verifier iteration count {iter_text!r} is not a positive number")
    stored_key = _unb64(stored_text, "StoredKey")
    server_key = _unb64(server_text, "ServerKey")
    if len(stored_key) != 32 or len(server_key) != 32:
        raise ScramError("SCRAM verifier keys must be 32 bytes (SHA-256)")
    return Verifier(int(iter_text), _unb64(salt_text, "salt"), stored_key, server_key)


def mock_verifier(name: str, secret: bytes) -> Verifier:
    """A verifier for a user that does not exist, derived from the name and a server secret,
    so the exchange looks the same for a known and an unknown name (and always fails), as
    PostgreSQL's scram_mock_salt does."""
    salt = _hmac(secret, b"salt:" + name.encode("utf-8"))[:SALT_BYTES]
    unknowable = _hmac(secret, b"key:" + name.encode("utf-8"))
    return Verifier(DEFAULT_ITERATIONS, salt, unknowable, unknowable)


def check_password(verifier: str | Verifier, password: str) -> bool:
    """Whether `password` is the one `verifier` was made from (HTTP Basic: the client sends
    the password itself, so the server derives the StoredKey and compares, in constant time).
    """
    v = parse_verifier(verifier) if isinstance(verifier, str) else verifier
    client_key = _hmac(salted_password(password, v.salt, v.iterations), b"Client Key")
    return hmac.compare_digest(_h(client_key), v.stored_key)


def _attributes(message: str) -> list[tuple[str, str]]:
    out = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError(f"malformed SCRAM message attribute {part[:20]!r}")
        out.append((part[0], part[2:]))
    return out


class ScramServer:
    """The server side of one SCRAM-SHA-256 exchange against a stored verifier.

    ```
    server = ScramServer(verifier)                  # verifier text or Verifier
    server_first = server.server_first(client_first) # SASLInitialResponse data -> SASLContinue
    server_final = server.server_final(client_final) # SASLResponse data -> SASLFinal
    ```
    `server_final` raises ScramError when the proof is wrong or a message is malformed; then
    the login fails (PostgreSQL answers 28P01). `authenticated` says whether it succeeded.
    Pass `mock=True` (with a `mock_verifier`) for an unknown user: the exchange runs and fails.
    `channel_binding` is the tls-server-end-point data the server expects for the -PLUS
    mechanism (None: the server offers no channel binding).
    """

    def __init__(
        self,
        verifier: str | Verifier,
        *,
        nonce: str | None = None,
        channel_binding: bytes | None = None,
        mock: bool = False,
    ) -> None:
        self.verifier = parse_verifier(verifier) if isinstance(verifier, str) else verifier
        self._server_nonce = nonce or _b64(secrets.token_bytes(NONCE_BYTES))
        self._channel_binding = channel_binding
        self._mock = mock
        self._client_first_bare = ""
        self._server_first = ""
        self._gs2_header = ""
        self._nonce = ""
        self.authenticated = False
        self.username = ""

    def server_first(self, client_first: str | bytes) -> str:
        text = client_first.decode("utf-8") if isinstance(client_first, bytes) else client_first
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise ScramError("malformed SCRAM client-first message")
        flag, authzid, bare = parts
        if flag == "p=tls-server-end-point":
            if self._channel_binding is None:
                raise ScramError("the client asks for channel binding the server does not offer")
        elif flag == "y":
            # The client could bind but thinks the server cannot: a downgrade if we offer it.
            if self._channel_binding is not None:
                raise ScramError("channel binding downgrade refused")
        elif flag != "n":
            raise ScramError(f"unsupported SCRAM channel binding flag {flag!r}")
        if authzid:
            raise ScramError("SCRAM authorization identities are not supported")
        attrs = _attributes(bare)
        if attrs[0][0] == "m":
            raise ScramError("SCRAM extensions are not supported")
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise ScramError("malformed SCRAM client-first message")
        self.username = attrs[0][1].replace("=2C", ",").replace("=3D", "=")
        client_nonce = attrs[1][1]
        if not all(0x21 <= ord(c) <= 0x7E and c != "," for c in client_nonce):
            raise ScramError("SCRAM client nonce has characters outside printable ASCII")
        self._gs2_header = f"{flag},{authzid},"
        self._client_first_bare = bare
        self._nonce = client_nonce + self._server_nonce
        self._server_first = (
            f"r={self._nonce},s={_b64(self.verifier.salt)},i={self.verifier.iterations}"
        )
        return self._server_first

    def server_final(self, client_final: str | bytes) -> str:
        if not self._server_first:
            raise ScramError("SCRAM client-final before client-first")
        text = client_final.decode("utf-8") if isinstance(client_final, bytes) else client_final
        attrs = _attributes(text)
        if len(attrs) < 3 or attrs[0][0] != "c" or attrs[1][0] != "r" or attrs[-1][0] != "p":
            raise ScramError("malformed SCRAM client-final message")
        binding = _unb64(attrs[0][1], "channel binding")
        expected = self._gs2_header.encode("utf-8")
        if self._gs2_header.startswith("p="):
            expected += self._channel_binding or b""
        if not hmac.compare_digest(binding, expected):
            raise ScramError("SCRAM channel binding does not match")
        if attrs[1][1] != self._nonce:
            raise ScramError("SCRAM nonce does not match")
        proof = _unb64(attrs[-1][1], "client proof")
        without_proof = text[: text.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = _hmac(self.verifier.stored_key, auth_message)
        if len(proof) != len(client_signature):
            raise ScramError("password authentication failed")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if self._mock or not hmac.compare_digest(_h(client_key), self.verifier.stored_key):
            raise ScramError("password authentication failed")
        self.authenticated = True
        return "v=" + _b64(_hmac(self.verifier.server_key, auth_message))


def client_exchange(password: str, client_nonce: str | None = None) -> tuple[str, ClientSide]:
    """The client side, for tests and for `medallion` tooling that logs into a server:
    returns client-first and an object whose `final(server_first)` gives client-final and whose
    `verify(server_final)` checks the server's signature."""
    nonce = client_nonce or _b64(secrets.token_bytes(NONCE_BYTES))
    side = ClientSide(password, nonce)
    return side.client_first, side


class ClientSide:
    def __init__(self, password: str, nonce: str, gs2_header: str = "n,,") -> None:
        self.password = password
        self.gs2_header = gs2_header
        self.client_first_bare = f"n=,r={nonce}"
        self.client_first = gs2_header + self.client_first_bare
        self._server_signature = b""

    def final(self, server_first: str) -> str:
        attrs = dict(_attributes(server_first))
        salted = salted_password(self.password, _unb64(attrs["s"], "salt"), int(attrs["i"]))
        client_key = _hmac(salted, b"Client Key")
        without_proof = f"c={_b64(self.gs2_header.encode())},r={attrs['r']}"
        auth_message = f"{self.client_first_bare},{server_first},{without_proof}".encode()
        signature = _hmac(_h(client_key), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={_b64(proof)}"

    def verify(self, server_final: str) -> bool:
        return hmac.compare_digest(server_final, "v=" + _b64(self._server_signature))


# -- md5, PostgreSQL's older password method, for drivers that cannot do SCRAM ----------------
# Opt-in per user: the md5 form is replayable by whoever reads the state database (it is the
# password's equivalent for this protocol), which is why SCRAM stays the default.

MD5_SALT_BYTES = 4


def make_md5(password: str, user: str) -> str:
    """PostgreSQL's stored md5 form: 'md5' + md5(password + user name), hex."""
    return "md5" + hashlib.md5((password + user).encode("utf-8")).hexdigest()


def md5_response(stored: str, salt: bytes) -> str:
    """What a client proves for `stored` (make_md5's form) and a 4-byte salt:
    'md5' + md5(stored hex without its prefix + salt)."""
    return "md5" + hashlib.md5(stored[3:].encode("ascii") + salt).hexdigest()


def check_md5(stored: str, salt: bytes, answer: bytes) -> None:
    """ScramError unless `answer` (the PasswordMessage, NUL-terminated or not) is the right
    response for `stored` and `salt`; compared in constant time."""
    expected = md5_response(stored, salt).encode("ascii")
    if not hmac.compare_digest(answer.rstrip(b"\0"), expected):
        raise ScramError("password authentication failed")
