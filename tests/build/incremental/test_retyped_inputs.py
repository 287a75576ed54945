"""An incremental model whose input column changed type under rows it built: after `restore`
to a version built on the old column type, or in a table whose record predates input schemas.
The next run rebuilds it (scd2 refuses, naming `--full-refresh`), and `plan` says so first;
never a raw Delta cast error from merging new rows into old ones."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from tests.conftest import medallion, table_versions, write_project

from medallion.project import Project
from medallion.storage import changes, tables

CONFIG = "name: x6\nsources:\n  s:\n    path: data/s_*.csv\n"
TYPED = CONFIG + "    columns: {v: VARCHAR}\n"
MERGE = "/* ---\nkind: merge\nunique_key: id\n--- */\nselect id, v from bronze.s\n"
SCD2 = "/* ---\nkind: scd2\nunique_key: id\n--- */\nselect id, v from bronze.s\n"


def retyped_then_restored(root: Path, model: str) -> None:
    """v read as BIGINT and the model built (version 0); v declared VARCHAR and bronze
    refreshed, the model rebuilt (version 1); the model restored to version 0; a new file."""
    write_project(root, CONFIG, {"silver/m.sql": model}, {"data/s_1.csv": "id,v\n1,10\n2,20\n"})
    medallion("run", cwd=root, check=True)
    (root / "data" / "s_2.csv").write_text("id,v\n3,abc\n")
    (root / "medallion.yml").write_text(TYPED)
    medallion("run", "--select", "bronze.s", "--full-refresh", "s", cwd=root, check=True)
    medallion("run", "--select", "m", "--full-refresh", "--yes", cwd=root, check=True)
    medallion("restore", "silver.m", "--to", "0", "-y", cwd=root, check=True)
    (root / "data" / "s_3.csv").write_text("id,v\n4,40\n")


def said(proc: object) -> str:
    return " ".join((proc.stdout + proc.stderr).split())  # type: ignore[attr-defined]


def test_a_merge_restored_to_a_build_on_the_old_type_is_rebuilt_as_plan_says(
    tmp_path: Path,
) -> None:
    root = tmp_path / "x6"
    retyped_then_restored(root, MERGE)
    why = "schema of input changed: bronze.s.v is string, was int64"

    plan = medallion("plan", cwd=root, check=True)
    assert f"silver.m rebuild {why}" in said(plan), plan.stdout
    run = medallion("run", cwd=root)

    assert run.returncode == 0, said(run)
    assert f"rebuilt: {why}" in said(run)
    assert "Cast error" not in said(run)
    rows = Project.load(root).query("select id, v from silver.m order by id").to_pylist()
    assert rows == [
        {"id": 1, "v": "10"},
        {"id": 2, "v": "20"},
        {"id": 3, "v": "abc"},
        {"id": 4, "v": "40"},
    ]
    assert "up to date" in medallion("plan", cwd=root, check=True).stdout
    assert medallion("run", cwd=root, check=True).returncode == 0  # twice: nothing new


def test_an_scd2_restored_to_a_build_on_the_old_type_is_refused_naming_full_refresh(
    tmp_path: Path,
) -> None:
    root = tmp_path / "x6"
    retyped_then_restored(root, SCD2)
    medallion("run", "--select", "bronze.s", cwd=root, check=True)
    before = table_versions(Project.load(root))

    plan = medallion("plan", cwd=root, check=True)
    assert "silver.m refused schema of input changed: bronze.s.v is string, was int64" in said(plan)
    run = medallion("run", cwd=root)

    assert run.returncode == 1
    assert "models/silver/m.sql: not rebuilt: schema of input changed: bronze.s.v is string" in (
        said(run)
    )
    assert "medallion run --select m --full-refresh" in said(run)
    assert "Cast error" not in said(run)
    assert table_versions(Project.load(root)) == before
    medallion("run", "--select", "m", "--full-refresh", "--yes", cwd=root, check=True)
    assert Project.load(root).row_count("silver.m") == 4


def test_a_table_whose_record_has_no_input_schemas_is_rebuilt_when_its_output_type_changed(
    make_project: object,
) -> None:
    """Built before input schemas were recorded (its last build commit records the upstream
    versions only): only the model's output, compared with the table, tells."""
    project: Project = make_project(  # type: ignore[operator]
        CONFIG, {"silver/m.sql": MERGE}, {"data/s_1.csv": "id,v\n1,10\n2,20\n"}
    )
    assert project.run().ok
    path = project.catalog.path("silver.m")
    upstream = changes.consumed(changes.last_build(path) or {})
    old = pa.table({"id": pa.array([1, 2]), "v": pa.array([10, 20])})
    tables.write(
        path,
        pa.RecordBatchReader.from_batches(old.schema, old.to_batches()),
        mode="overwrite",
        run_id="older-release",
        metadata={changes.UPSTREAM_KEY: upstream},
    )
    (project.root / "medallion.yml").write_text(TYPED)
    (project.root / "data" / "s_2.csv").write_text("id,v\n3,abc\n")
    project = Project.load(project.root)
    assert project.run(full_refresh=["s"], select=["bronze.s"], yes=True).ok

    result = project.run()

    assert result.ok, result.error
    step = result.step("silver.m")
    assert step.details["rebuild"] == "output column v is string, the table holds it as int64"
    rows = project.query("select id, v from silver.m order by id").to_pylist()
    assert rows == [{"id": 1, "v": "10"}, {"id": 2, "v": "20"}, {"id": 3, "v": "abc"}]
    assert project.run().ok  # twice: nothing new, nothing rebuilt
    assert project.run().step("silver.m").details.get("rebuild") is None


def test_an_output_type_the_table_holds_without_loss_fits() -> None:
    """What an engine spells differently but the table holds without losing a digit is no
    change (DuckDB sums DECIMAL(10,2) to DECIMAL(38,2), Spark to DECIMAL(20,2); a table Spark
    wrote holds UTC timestamps): only what cannot be held is."""
    import pyarrow as pa

    from medallion.build.record import output_change

    def change(new: pa.DataType, held: pa.DataType) -> str | None:
        return output_change(pa.schema([("x", new)]), pa.schema([("x", held)]))

    assert change(pa.decimal128(20, 2), pa.decimal128(38, 2)) is None
    assert change(pa.int32(), pa.decimal128(38, 2)) is None
    assert change(pa.timestamp("us"), pa.timestamp("us", tz="UTC")) is None
    assert change(pa.float32(), pa.float64()) is None
    assert change(pa.decimal128(38, 4), pa.decimal128(38, 2)) is not None  # digits lost
    assert change(pa.decimal128(38, 2), pa.decimal128(20, 2)) is not None
    assert change(pa.string(), pa.int64()) is not None
    assert change(pa.int64(), pa.int32()) is not None
