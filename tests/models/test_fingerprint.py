"""A model's fingerprint: what changes rows changes it, nothing else does."""

from __future__ import annotations

from pathlib import Path

from medallion.models.fingerprint import definition, fingerprint
from medallion.models.loader import load_models

HEADER = """/* ---
kind: merge
unique_key: id
description: the orders
expectations:
  positive: {expect: amount > 0, action: drop}
  known: {expect: status is not null, action: warn}
--- */
"""
SQL = "select id, amount, status from bronze.orders where amount < 100\n"


def load(tmp_path: Path, text: str):
    folder = tmp_path / "models" / "silver"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.sql").write_text(text)
    return load_models(tmp_path / "models", ["bronze", "silver"], {"bronze.orders"})["silver.m"]


def test_what_changes_rows_changes_the_fingerprint(tmp_path: Path) -> None:
    base = fingerprint(load(tmp_path, HEADER + SQL))
    same = [
        HEADER.replace("the orders", "every order") + SQL,  # a description
        HEADER + "-- a comment\n" + SQL.replace("select id,", "SELECT\n    id,"),  # layout, case
        HEADER.replace("--- */", "tags: [x]\ncolumns: {id: the key}\n--- */") + SQL,
    ]
    for text in same:
        assert fingerprint(load(tmp_path, text)) == base, text
    changed = [
        HEADER + SQL.replace("< 100", "< 50"),  # a filter
        HEADER.replace("unique_key: id", "unique_key: [id, status]") + SQL,  # the key
        HEADER.replace("action: drop", "action: quarantine") + SQL,  # an expectation's action
        HEADER.replace("kind: merge\nunique_key: id\n", "") + SQL,  # the kind
    ]
    for text in changed:
        assert fingerprint(load(tmp_path, text)) != base, text


def test_the_definition_shows_one_expectation_per_line(tmp_path: Path) -> None:
    text = definition(load(tmp_path, HEADER + SQL))
    lines = text.splitlines()
    assert 'expectations.known: {"expect": "status is not null"}' in lines  # warn: default
    assert 'expectations.positive: {"action": "drop", "expect": "amount > 0"}' in lines
    assert "description" not in text
    assert lines[-1].strip() == "amount < 100"
