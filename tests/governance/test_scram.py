"""SCRAM-SHA-256 verifiers and the server exchange: RFC 7677's test vector, PostgreSQL's own
server accepting our verifier text, and the failure cases a login must refuse."""

from __future__ import annotations

import base64
import hashlib

import psycopg
import pytest

from medallion.governance.scram import (
    ScramError,
    ScramServer,
    client_exchange,
    make_verifier,
    mock_verifier,
    parse_verifier,
)

# RFC 7677 section 3: user "user", password "pencil".
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SERVER_FIRST = (
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_rfc7677_vector() -> None:
    verifier = make_verifier("pencil", 4096, RFC_SALT)
    server = ScramServer(verifier, nonce=RFC_SERVER_NONCE)
    assert server.server_first(RFC_CLIENT_FIRST) == RFC_SERVER_FIRST
    assert server.server_final(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL
    assert server.authenticated
    assert server.username == "user"


def test_rfc7677_vector_wrong_password_fails() -> None:
    server = ScramServer(make_verifier("pencil2", 4096, RFC_SALT), nonce=RFC_SERVER_NONCE)
    server.server_first(RFC_CLIENT_FIRST)
    with pytest.raises(ScramError, match="password authentication failed"):
        server.server_final(RFC_CLIENT_FINAL)
    assert not server.authenticated


def test_verifier_format_round_trips() -> None:
    text = make_verifier("s3cret")
    mech, head, _keys = text.split("$")
    assert mech == "SCRAM-SHA-256"
    assert head.startswith("4096:")
    parsed = parse_verifier(text)
    assert len(parsed.salt) == 16 and len(parsed.stored_key) == 32
    assert str(parsed) == text
    # random salt: the same password twice gives two verifiers
    assert make_verifier("s3cret") != text


@pytest.mark.parametrize(
    "bad",
    [
        "md5abc",
        "SCRAM-SHA-1$4096:c2FsdA==$a:b",
        "SCRAM-SHA-256$x:c2FsdA==$a:b",
        "SCRAM-SHA-256$4096:c2FsdA==$!!:??",
        "SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:c2FsdA==",
    ],
)
def test_parse_verifier_refuses_other_texts(bad: str) -> None:
    with pytest.raises(ScramError):
        parse_verifier(bad)


def test_client_and_server_sides_agree() -> None:
    server = ScramServer(make_verifier("correct horse", iterations=1000))
    first, client = client_exchange("correct horse")
    final = client.final(server.server_first(first))
    assert client.verify(server.server_final(final))


def test_wrong_password_and_tampered_nonce_fail() -> None:
    verifier = make_verifier("right", iterations=500)
    server = ScramServer(verifier)
    first, client = client_exchange("wrong")
    with pytest.raises(ScramError):
        server.server_final(client.final(server.server_first(first)))

    server = ScramServer(verifier)
    first, client = client_exchange("right")
    final = client.final(server.server_first(first))
    tampered = final.replace("r=", "r=x", 1)
    with pytest.raises(ScramError, match="nonce"):
        server.server_final(tampered)


def test_mock_verifier_always_fails_and_is_stable() -> None:
    secret = b"server secret"
    assert mock_verifier("ghost", secret) == mock_verifier("ghost", secret)
    assert mock_verifier("ghost", secret).salt != mock_verifier("other", secret).salt
    server = ScramServer(mock_verifier("ghost", secret), mock=True)
    first, client = client_exchange("anything")
    with pytest.raises(ScramError):
        server.server_final(client.final(server.server_first(first)))


@pytest.mark.parametrize(
    "client_first",
    ["", "n,,", "x,,n=,r=abc", "n,a=admin,n=,r=abc", "n,,m=ext,n=,r=abc", "n,,n=,r="],
)
def test_malformed_client_first_refused(client_first: str) -> None:
    with pytest.raises(ScramError):
        ScramServer(make_verifier("p", iterations=10)).server_first(client_first)


def test_channel_binding_checked() -> None:
    binding = b"\x01" * 32
    server = ScramServer(make_verifier("p", iterations=10), channel_binding=binding)
    # a client that says "I could bind, you cannot" to a server that can: a downgrade
    with pytest.raises(ScramError, match="downgrade"):
        server.server_first("y,,n=,r=abc")
    # a server that offers no binding refuses a client that asks for it
    server = ScramServer(make_verifier("p", iterations=10))
    with pytest.raises(ScramError, match="channel binding"):
        server.server_first("p=tls-server-end-point,,n=,r=abc")


def test_saslprep_maps_non_ascii_space() -> None:
    # RFC 4013: U+00A0 maps to a space; soft hyphen U+00AD maps to nothing.
    assert parse_verifier(make_verifier("a\u00a0b\u00ad", 10, b"salt")) == parse_verifier(
        make_verifier("a b", 10, b"salt")
    )


@pytest.mark.postgres
def test_postgresql_accepts_our_verifier(pg_db: str) -> None:
    """PostgreSQL itself stores our verifier text as a role's password and logs in with it."""
    verifier = make_verifier("tr0ub4dor&3")
    with psycopg.connect(pg_db, autocommit=True) as con:
        con.execute("drop role if exists scram_probe")
        con.execute(f"create role scram_probe login password '{verifier}'")
        stored = con.execute(
            "select rolpassword from pg_authid where rolname = 'scram_probe'"
        ).fetchone()
    assert stored is not None and stored[0] == verifier
    dsn = psycopg.conninfo.conninfo_to_dict(pg_db)
    dsn.update(user="scram_probe", password="tr0ub4dor&3")
    try:
        with psycopg.connect(**dsn) as con:
            assert con.execute("select current_user").fetchone() == ("scram_probe",)
        dsn["password"] = "wrong"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(**dsn)
    finally:
        with psycopg.connect(pg_db, autocommit=True) as con:
            con.execute("drop role scram_probe")


def test_md5_is_postgres_form_and_its_challenge() -> None:
    from medallion.governance.scram import check_md5, make_md5, md5_response

    # the values PostgreSQL's own md5 gives: rolpassword and the libpq answer for this salt
    stored = make_md5("secret", "ann")
    assert stored == "md5" + hashlib.md5(b"secretann").hexdigest()
    salt = b"\x01\x02\x03\x04"
    answer = "md5" + hashlib.md5(stored[3:].encode() + salt).hexdigest()
    assert md5_response(stored, salt) == answer
    check_md5(stored, salt, answer.encode() + b"\0")
    with pytest.raises(ScramError):
        check_md5(stored, b"\x01\x02\x03\x05", answer.encode() + b"\0")
    with pytest.raises(ScramError):
        check_md5(make_md5("other", "ann"), salt, answer.encode())
