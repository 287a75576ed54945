"""medallion.yml loading: defaults, env interpolation, and friendly, line-numbered errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from medallion.config import ProjectConfig, find_project_root, load_project_config
from medallion.errors import ConfigError, ProjectNotFoundError
from medallion.project import Project


def write_config(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ProjectConfig:
    return load_project_config(write_config(tmp_path, text), env if env is not None else {})


def load_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    assert info.value.file == str(tmp_path / "medallion.yml")
    return info.value


# -- defaults ---------------------------------------------------------------------------------


def test_defaults_for_a_minimal_file(tmp_path: Path) -> None:
    config = load(tmp_path, "name: shop\n")
    assert config.name == "shop"
    assert config.storage == "./lakehouse"
    assert config.state == ".medallion"
    assert config.layers == ["bronze", "silver", "gold"]
    assert config.models == "models"
    assert config.sources == {}
    assert config.landing_layer == "bronze"


def test_project_paths_resolve_against_the_root(tmp_path: Path) -> None:
    write_config(tmp_path, "name: shop\n")
    project = Project.load(tmp_path)
    assert project.storage_root == tmp_path / "lakehouse"
    assert project.state_dir == tmp_path / ".medallion"
    assert project.models_dir == tmp_path / "models"


# -- ${VAR} interpolation ---------------------------------------------------------------------


def test_env_variable_is_substituted(tmp_path: Path) -> None:
    config = load(tmp_path, "name: p\nstorage: ${LAKE_ROOT}/lake\n", {"LAKE_ROOT": "/data"})
    assert config.storage == "/data/lake"


def test_env_default_used_when_unset(tmp_path: Path) -> None:
    config = load(tmp_path, "name: p\nstorage: ${LAKE_ROOT:-/srv}/lake\n", {})
    assert config.storage == "/srv/lake"


def test_env_value_wins_over_default(tmp_path: Path) -> None:
    config = load(tmp_path, "name: p\nstorage: ${LAKE_ROOT:-/srv}/lake\n", {"LAKE_ROOT": "/x"})
    assert config.storage == "/x/lake"


def test_empty_default(tmp_path: Path) -> None:
    assert load(tmp_path, "name: p\nstorage: ${NOPE:-}/lake\n").storage == "/lake"


def test_double_dollar_escapes_a_literal(tmp_path: Path) -> None:
    config = load(tmp_path, "name: p\nstorage: $${HOME} and ${X}\n", {"HOME": "/h", "X": "x"})
    assert config.storage == "${HOME} and x"


def test_env_in_list_items_and_project_load(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        name: p
        sources:
          orders:
            path:
              - data/a.csv
              - ${DATA_DIR}/b.csv
        """,
    )
    project = Project.load(tmp_path, env={"DATA_DIR": "/in"})
    assert project.config.sources["orders"].paths == ["data/a.csv", "/in/b.csv"]


def test_missing_env_variable_names_key_and_line(tmp_path: Path) -> None:
    # a source's variable is needed when the source is used (tests/config/test_lazy_env.py)
    config = load(
        tmp_path,
        """
        name: p
        sources:
          orders:
            path: ${DATA_DIR}/orders.csv
        """,
    )
    assert config.sources["orders"].paths == ["${DATA_DIR}/orders.csv"]
    config.require_env([("sources", "other")])
    with pytest.raises(ConfigError) as info:
        config.require_env([("sources", "orders")])
    err = info.value
    assert err.message == "environment variable DATA_DIR is not set (used in sources.orders.path)"
    assert err.key == "sources.orders.path"
    assert err.line == 4
    assert err.hint is not None and "export DATA_DIR=" in err.hint


@pytest.mark.parametrize(
    ("path", "became"),
    [
        ("${LANDING}/orders*.csv", "the path '/orders*.csv'"),
        ("${LANDING}", "an empty path"),
    ],
)
def test_an_empty_variable_that_changes_a_path_names_the_variable(
    tmp_path: Path, path: str, became: str
) -> None:
    text = f'name: p\nsources:\n  orders: {{path: "{path}", format: csv}}\n'
    err = load_error(tmp_path, text, {"LANDING": ""})
    assert (
        err.message
        == f"sources.orders.path: LANDING is set but empty, which makes {path!r} {became}"
    )
    assert err.line == 3
    assert err.hint is not None and "${LANDING:-data}" in err.hint
    # set, or empty where the path stays relative, it loads
    assert load(tmp_path, text, {"LANDING": "data"}).sources["orders"].paths
    relative = 'name: p\nsources:\n  orders: {path: "data${SUFFIX}/o.csv"}\n'
    assert load(tmp_path, relative, {"SUFFIX": ""}).sources["orders"].paths == ["data/o.csv"]


def test_missing_env_variable_in_a_list_item(tmp_path: Path) -> None:
    write_config(tmp_path, "name: p\nlayers:\n  - bronze\n  - ${SILVER}\n")
    with pytest.raises(ConfigError, match=r"SILVER is not set \(used in layers\[1\]\)") as info:
        Project.load(tmp_path, env={})
    assert info.value.key == "layers[1]"
    assert info.value.line == 4


# -- validation errors ------------------------------------------------------------------------


def test_unknown_key_with_suggestion_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = load_error(
        tmp_path,
        """
        name: p
        # a comment line
        sources:
          orders:
            path: data/orders.csv
            fromat: csv
        """,
    )
    assert err.message == "unknown key 'fromat' in sources.orders — did you mean 'format'?"
    assert err.line == 6
    assert err.key == "sources.orders.fromat"
    monkeypatch.chdir(tmp_path)
    assert str(err).startswith("medallion.yml:6: unknown key 'fromat'")


def test_unknown_top_level_key_without_close_match_lists_allowed(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\nzzzzzz: 1\n")
    assert err.message == "unknown key 'zzzzzz' in (top level)"
    assert err.line == 2
    assert err.hint is not None and err.hint.startswith("allowed keys: name, description")


def test_missing_required_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\nsources:\n  orders:\n    format: csv\n")
    assert err.message == "missing required key 'path' in sources.orders"
    assert err.key == "sources.orders.path"
    assert err.line == 4  # the first line of the orders mapping


def test_missing_project_name(tmp_path: Path) -> None:
    err = load_error(tmp_path, "storage: ./lake\n")
    assert err.message == "missing required key 'name' in (top level)"
    assert err.line == 1


def test_invalid_literal_with_suggestion(tmp_path: Path) -> None:
    err = load_error(
        tmp_path, "name: p\nsources:\n  orders:\n    path: data/o.csv\n    format: csvv\n"
    )
    assert err.message == (
        "sources.orders.format: 'csvv' is not allowed; expected 'csv', 'json' or 'parquet'"
        " — did you mean 'csv'?"
    )
    assert err.line == 5
    assert err.key == "sources.orders.format"


def test_broken_yaml_gives_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = load_error(
        tmp_path,
        """
        name: p
        sources:
          orders:
           path: data/o.csv
            format: csv
        """,
    )
    # libyaml's wording (PyYAML's pure-Python parser says "... not allowed here")
    assert err.message in {
        "invalid YAML: mapping values are not allowed in this context",
        "invalid YAML: mapping values are not allowed here",
    }
    assert (err.line, err.column) == (5, 11)
    assert err.hint is not None and "indentation" in err.hint
    monkeypatch.chdir(tmp_path)
    assert str(err).startswith("medallion.yml:5:11: invalid YAML")


def test_tab_indentation_is_invalid_yaml(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\n\tstorage: x\n")
    # libyaml: "found a tab character ..."; pure-Python PyYAML: "found character '\\t'"
    assert err.message.startswith(
        ("invalid YAML: found a tab", "invalid YAML: found character '\\t'")
    )
    assert err.line == 2
    assert err.hint == "YAML indents with spaces only: replace the tab on this line with spaces"


def test_empty_file(tmp_path: Path) -> None:
    err = load_error(tmp_path, "# only a comment\n")
    assert err.message == "medallion.yml is empty"
    assert err.hint is not None and "name:" in err.hint


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    err = load_error(tmp_path, "- bronze\n- silver\n")
    assert err.message == "medallion.yml must be a mapping of keys (name, sources, ...), not a list"
    assert err.line == 1


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("[Bronze, silver]", "layers: layer 'Bronze' must be lower-case letters"),
        ("[bronze, sil__ver]", "layers: layer 'sil__ver' must not contain '__'"),
        ("[bronze, main]", "layers: 'main' is reserved by the SQL engine"),
        ("[bronze, bronze]", "layers: layer names must be unique"),
        ("[]", "layers: at least one layer is needed"),
    ],
)
def test_invalid_layers(tmp_path: Path, layers: str, message: str) -> None:
    err = load_error(tmp_path, f"name: p\nlayers: {layers}\n")
    assert err.message.startswith(message)
    assert err.key == "layers"
    assert err.line == 2


@pytest.mark.parametrize("name", ["Orders", "or__ders", "2orders"])
def test_invalid_source_names(tmp_path: Path, name: str) -> None:
    err = load_error(tmp_path, f"name: p\nsources:\n  {name}:\n    path: o.csv\n")
    assert err.message.startswith(f"sources: source name {name!r} must")
    assert err.key == "sources"


def test_csv_options_rejected_on_parquet(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        name: p
        sources:
          orders:
            path: data/orders.parquet
            header: true
            delimiter: ';'
        """,
    )
    assert err.message == (
        "sources.orders: header, delimiter apply to csv sources only (format is parquet)"
    )
    assert err.key == "sources.orders"
    assert err.line == 4


def test_json_format_rejected_on_csv(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\nsources:\n  o:\n    path: o.csv\n    json_format: array\n")
    assert err.message == "sources.o: json_format applies to json sources only (format is csv)"


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("data/o.csv", "csv"),
        ("data/o.tsv", "csv"),
        ("data/o.csv.gz", "csv"),
        ("data/o*.jsonl", "json"),
        ("data/O.NDJSON", "json"),
        ("data/o.parquet", "parquet"),
        ("data/o.pq", "parquet"),
    ],
)
def test_format_inferred_from_extension(tmp_path: Path, path: str, fmt: str) -> None:
    config = load(tmp_path, f"name: p\nsources:\n  o:\n    path: {path}\n")
    assert config.sources["o"].format is None
    assert config.sources["o"].file_format == fmt


def test_explicit_format_for_unknown_extension(tmp_path: Path) -> None:
    config = load(tmp_path, "name: p\nsources:\n  o:\n    path: o.dat\n    format: json\n")
    assert config.sources["o"].file_format == "json"


def test_format_that_cannot_be_inferred(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\nsources:\n  o:\n    path: data/o.dat\n")
    assert err.message == (
        "sources.o: cannot tell the file format from 'data/o.dat'; set format: csv, json or parquet"
    )
    assert err.line == 4


def test_empty_path_list(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\nsources:\n  o:\n    path: []\n")
    assert err.message == "sources.o.path: path must name at least one file or glob pattern"


def test_a_value_of_none_of_a_unions_types_is_one_message(tmp_path: Path) -> None:
    # `path` is a string or a list of strings: pydantic reports each alternative apart, with
    # its type name in the location ("sources.o.path.str", "sources.o.path.list[str]")
    err = load_error(tmp_path, "name: p\nsources:\n  o:\n    path: {x: 1}\n")
    assert err.message == "sources.o.path: Input should be a valid string or a valid list"
    assert err.line == 4
    assert err.key == "sources.o.path"


def test_multiple_errors_are_listed(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        name: p
        sources:
          orders:
            fromat: csv
            path: a.csv
          items:
            path: b.csv
            format: csvv
        """,
    )
    first, *rest = err.message.splitlines()
    assert first == "unknown key 'fromat' in sources.orders — did you mean 'format'?"
    assert err.line == 4
    yml = tmp_path / "medallion.yml"
    assert rest == [
        f"  {yml}:8: sources.items.format: 'csvv' is not allowed; "
        "expected 'csv', 'json' or 'parquet' — did you mean 'csv'?"
    ]


# -- finding the project ----------------------------------------------------------------------


def test_find_project_root_walks_up(tmp_path: Path) -> None:
    write_config(tmp_path, "name: p\n")
    deep = tmp_path / "models" / "silver" / "staging"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == tmp_path.resolve()
    assert Project.load(deep).root == tmp_path.resolve()


def test_find_project_root_none_without_file(tmp_path: Path) -> None:
    assert find_project_root(tmp_path) is None


def test_project_load_without_medallion_yml(tmp_path: Path) -> None:
    with pytest.raises(
        ProjectNotFoundError, match=r"no medallion\.yml in .* or any parent"
    ) as info:
        Project.load(tmp_path)
    assert str(tmp_path.resolve()) in info.value.message
    assert info.value.hint is not None and "medallion init" in info.value.hint
    assert isinstance(info.value, ConfigError)


# -- engine -----------------------------------------------------------------------------------


def test_engine_settings_reach_duckdb(tmp_path: Path) -> None:
    write_config(tmp_path, "name: p\nengine:\n  memory_limit: 256MB\n  threads: 1\n")
    engine = Project.load(tmp_path).new_engine()
    limit, threads = engine.con.execute(
        "select current_setting('memory_limit'), current_setting('threads')"
    ).fetchone()
    assert threads == 1
    assert limit.replace(" ", "") in ("256.0MiB", "244.1MiB", "256MB", "244.1MB")
    import duckdb

    default = Project.load(write_config(tmp_path / "q", "name: q\n")).new_engine()
    query = "select current_setting('threads'), current_setting('memory_limit')"
    assert default.con.execute(query).fetchone() == duckdb.connect().execute(query).fetchone()


def test_engine_memory_limit_must_be_a_size(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\nengine:\n  memory_limit: lots\n")
    assert "write a size like '1GB'" in err.message
    assert err.key == "engine.memory_limit"


# -- mistakes YAML or pydantic would let through ---------------------------------------------


def test_an_unfinished_variable_is_an_error_not_a_folder_name(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\nstorage: ${LAKE_DIR\n")
    assert err.message == "unfinished ${...} in storage: '${LAKE_DIR'"
    assert err.line == 2


def test_a_key_written_twice_is_an_error(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys: a second `orders:` would replace the first."""
    err = load_error(
        tmp_path,
        """
        name: p
        sources:
          orders:
            path: data/orders.csv
          orders:
            path: data/payments.csv
        """,
    )
    assert err.message == "key 'orders' is written twice (lines 3 and 5)"
    assert err.line == 5


def test_a_model_header_key_written_twice_is_an_error(tmp_path: Path) -> None:
    write_config(tmp_path, "name: p\n")
    model = tmp_path / "models" / "silver" / "m.sql"
    model.parent.mkdir(parents=True)
    model.write_text("/* ---\nkind: table\nkind: append\n--- */\nselect 1 as a\n")
    with pytest.raises(Exception) as info:
        Project.load(tmp_path).validate()
    assert "key 'kind' is written twice (lines 2 and 3)" in str(info.value)
    assert "m.sql:3" in str(info.value)


def test_a_configured_models_folder_that_does_not_exist(tmp_path: Path) -> None:
    write_config(tmp_path, "name: p\nmodels: modles\n")
    with pytest.raises(ConfigError) as info:
        Project.load(tmp_path).validate()
    assert info.value.message == "the models folder 'modles' does not exist"
    # without the key, a project of sources only is fine
    write_config(tmp_path, "name: p\n")
    assert Project.load(tmp_path).models == {}


@pytest.mark.parametrize(
    ("typ", "message"),
    [
        ("TIME", "column type 'TIME' cannot be stored in a Delta table"),
        ("INTERVAL", "column type 'INTERVAL' cannot be stored in a Delta table"),
        ("DECIMAL(40,2)", "Delta decimals hold at most 38 digits"),
    ],
)
def test_column_types_delta_cannot_store(tmp_path: Path, typ: str, message: str) -> None:
    err = load_error(
        tmp_path, f"name: p\nsources:\n  s:\n    path: s.csv\n    columns:\n      c: '{typ}'\n"
    )
    assert message in err.message


def test_negative_skip_rows(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: p\nsources:\n  s:\n    path: s.csv\n    skip_rows: -1\n")
    assert "greater than or equal to 0" in err.message


def test_a_model_header_never_closed(tmp_path: Path) -> None:
    write_config(tmp_path, "name: p\n")
    model = tmp_path / "models" / "gold" / "m.sql"
    model.parent.mkdir(parents=True)
    model.write_text("-- totals\n/* ---\nkind: table\nselect 1 as a\n")
    with pytest.raises(Exception) as info:
        Project.load(tmp_path).validate()
    assert str(info.value).startswith(f"{model}:2: the model header is never closed")
