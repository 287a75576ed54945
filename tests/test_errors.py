"""DSNs in messages: the password never shows, however it is written."""

from __future__ import annotations

import pytest

from medallion.errors import mask_dsn


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://etl:secret@h:5432/db", "postgresql://etl:***@h:5432/db"),
        # an '@' the user forgot to write %40: the whole password is still hidden
        (
            "postgresql://etl:p@ss:w0rd@127.0.0.1:5999/shop",
            "postgresql://etl:***@127.0.0.1:5999/shop",
        ),
        (
            "postgresql://u:pw@h/db?sslmode=require&x=a@b",
            "postgresql://u:***@h/db?sslmode=require&x=a@b",
        ),
        ("postgresql://etl@h/db", "postgresql://etl@h/db"),
        ("host=h password=abc user=u", "host=h password=*** user=u"),
        # libpq's quoted values may hold spaces and escaped quotes
        ("host=h password='a b\\' c' user=u", "host=h password=*** user=u"),
        ("host=h password = 'never closed", "host=h password = ***"),
        # whatever the password holds, all up to the '@' before the host is masked
        ("postgresql://u:Pa#ss@h:1/wh", "postgresql://u:***@h:1/wh"),
        ("postgresql://u:Pa?ss@h:1/wh", "postgresql://u:***@h:1/wh"),
        ("postgresql://u:Pa/ss@h:1/wh", "postgresql://u:***@h:1/wh"),
        ("postgresql://:secret@h/db", "postgresql://:***@h/db"),
        ("mysql://u:Pa#ss@h:3306/db", "mysql://u:***@h:3306/db"),
        ('host=h password="dq secret" user=u', "host=h password=*** user=u"),
        ("postgresql:///db?host=/tmp", "postgresql:///db?host=/tmp"),
    ],
)
def test_mask_hides_the_password(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked
