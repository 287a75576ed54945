"""The model header: a `/* --- ... */` block in SQL, a `---` YAML docstring in Python."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from medallion.errors import ModelError
from medallion.models.header import ColumnDoc, ModelConfig, split_sql_header
from medallion.models.loader import Model, read_model


def write(tmp_path: Path, name: str, text: str, *, dedent: bool = True) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip() if dedent else text, encoding="utf-8")
    return path


def read(tmp_path: Path, name: str, text: str, *, dedent: bool = True) -> Model:
    return read_model("silver", write(tmp_path, name, text, dedent=dedent))


# -- SQL headers ------------------------------------------------------------------------------


def test_sql_header_fields(tmp_path: Path) -> None:
    model = read(
        tmp_path,
        "daily.sql",
        """
        /* ---
        kind: view
        description: One row per order date.
        partition_by: order_date
        tags: [finance]
        columns:
          order_date: Calendar day of the order
          total:
            description: Sum of the order amounts
          untitled: {}
        --- */
        select 1 as order_date
        """,
    )
    assert model.language == "sql"
    assert model.fqn == "silver.daily"
    cfg = model.config
    assert cfg.kind == "view"
    assert not model.materialized
    assert cfg.description == "One row per order date."
    assert cfg.partition_by == ["order_date"]
    assert cfg.tags == ["finance"]
    assert cfg.columns["order_date"] == "Calendar day of the order"
    assert cfg.columns["total"] == ColumnDoc(description="Sum of the order amounts")
    assert cfg.column_descriptions() == {
        "order_date": "Calendar day of the order",
        "total": "Sum of the order amounts",
    }


def test_partition_by_list_and_header_without_closing_dashes(tmp_path: Path) -> None:
    model = read(
        tmp_path,
        "m.sql",
        """
        -- a line comment may come first

        /* ---
        partition_by: [year, month]
        */
        select 1 as year, 2 as month
        """,
    )
    assert model.config.partition_by == ["year", "month"]
    assert model.config.kind == "table"
    assert model.materialized


def test_no_header_gives_defaults(tmp_path: Path) -> None:
    model = read(tmp_path, "m.sql", "select 1\n")
    assert model.config == ModelConfig()
    assert model.config.kind == "table"


def test_ordinary_leading_comment_is_not_a_header(tmp_path: Path) -> None:
    model = read(
        tmp_path,
        "m.sql",
        """
        /* This model builds the daily summary.
        kind: view
        */
        select 1
        """,
    )
    assert model.config == ModelConfig()


def test_header_must_be_first(tmp_path: Path) -> None:
    assert split_sql_header("select 1\n/* ---\nkind: view\n*/\n") == (None, 0)


def test_split_sql_header_returns_body_and_start_line() -> None:
    body, start = split_sql_header("-- c\n\n/* ---\nkind: view\n--- */\nselect 1\n")
    assert body == "kind: view\n"
    assert start == 3


def test_sql_unknown_key_with_suggestion_and_file_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        read(
            tmp_path,
            "m.sql",
            """
            -- leading comment


            /* ---
            kind: table
            descripton: Orders
            --- */
            select 1
            """,
        )
    err = info.value
    assert err.message == "unknown key 'descripton' in (top level) — did you mean 'description'?"
    assert err.line == 6
    assert err.key == "descripton"
    assert err.file == str(tmp_path / "m.sql")


def test_sql_invalid_kind_with_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"kind: 'tabel' is not allowed.*did you mean 'table'"):
        read(tmp_path, "m.sql", "/* ---\nkind: tabel\n--- */\nselect 1\n")


def test_sql_broken_yaml_reports_file_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="invalid YAML: mapping values are not allowed") as info:
        read(
            tmp_path,
            "m.sql",
            """
            -- comment
            /* ---
            kind: table
            columns:
              a: first
               b: second
            --- */
            select 1
            """,
        )
    assert info.value.line == 6
    assert info.value.column == 5
    assert info.value.file == str(tmp_path / "m.sql")


def test_header_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="the model header must be a YAML mapping") as info:
        read(tmp_path, "m.sql", "/* ---\n- kind\n- view\n--- */\nselect 1\n")
    assert info.value.line == 2


def test_empty_header_gives_defaults(tmp_path: Path) -> None:
    assert read(tmp_path, "m.sql", "/* ---\n--- */\nselect 1\n").config == ModelConfig()


# -- Python headers ---------------------------------------------------------------------------


def test_python_header_fields(tmp_path: Path) -> None:
    model = read(
        tmp_path,
        "scored.py",
        '''
        """---
        description: Scored customers.
        partition_by: region
        depends_on: [silver.customers]
        columns:
          score:
            description: Model score
        ---
        """


        def model(ctx):
            return None
        ''',
    )
    assert model.language == "python"
    assert model.config.description == "Scored customers."
    assert model.config.partition_by == ["region"]
    assert model.config.depends_on == ["silver.customers"]
    assert model.config.column_descriptions() == {"score": "Model score"}


def test_python_ordinary_docstring_is_not_a_header(tmp_path: Path) -> None:
    model = read(
        tmp_path,
        "m.py",
        '''
        """Scores customers.

        kind: view
        """


        def model(ctx):
            return None
        ''',
    )
    assert model.config == ModelConfig()


def test_python_unknown_key_reports_file_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"unknown key 'descripton'.*'description'") as info:
        read(
            tmp_path,
            "m.py",
            '''
            # comment

            """---
            kind: table
            descripton: x
            """


            def model(ctx):
                return None
            ''',
        )
    assert info.value.line == 5
    assert info.value.key == "descripton"


def test_python_broken_yaml_reports_file_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="invalid YAML") as info:
        read(
            tmp_path,
            "m.py",
            '''
            """---
            kind: table
            columns:
              a: x
               b: y
            """


            def model(ctx):
                return None
            ''',
        )
    assert info.value.line == 5


def test_python_header_dashes_on_second_line_report_file_line(tmp_path: Path) -> None:
    # the docstring opens with a newline; `---` is on line 2 and `descripton` on line 4
    text = '"""\n---\nkind: table\ndescripton: x\n"""\n\n\ndef model(ctx):\n    return None\n'
    with pytest.raises(ModelError, match="unknown key 'descripton'") as info:
        read(tmp_path, "m.py", text, dedent=False)
    assert info.value.line == 4


def test_python_model_needs_model_function(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"a Python model must define `def model\(ctx\):`") as info:
        read(tmp_path, "m.py", '"""---\nkind: table\n"""\n\n\ndef build(ctx):\n    return None\n')
    assert info.value.file == str(tmp_path / "m.py")
    assert info.value.hint is not None and "Arrow" in info.value.hint


def test_python_syntax_error_reports_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="Python syntax error: expected ':'") as info:
        read(tmp_path, "m.py", "import os\n\ndef model(ctx)\n    return None\n")
    assert info.value.line == 3
    assert info.value.column == 15
    assert info.value.file == str(tmp_path / "m.py")


def test_invalid_model_file_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model name 'Daily' must be lower-case") as info:
        read(tmp_path, "Daily.sql", "select 1\n")
    assert info.value.hint == "rename the file"
