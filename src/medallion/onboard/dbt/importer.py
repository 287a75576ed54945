"""`medallion import dbt`: a dbt project read, rendered and written as a medallion project.

The steps: read dbt_project.yml and the property files (`dbtproject`); name every node in the
new project (sources and seeds in bronze, models by folder: `layers`); render each model's
Jinja with stand-ins (`jinja`); turn materializations into kinds, tests into checks
(`datatests`), seeds and file sources into `files` sources (`sources`); write medallion.yml and
`models/<layer>/<name>.sql` into a folder beside the destination, and move it into place only
when all is written (an import that fails leaves nothing behind). Each model is parsed as
written and the project loaded as `medallion validate` loads it: what does not parse or load is
a TODO too, marked at the top of the model it concerns.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from medallion.errors import TemplateError
from medallion.onboard.dbt import datatests, layers
from medallion.onboard.dbt.dbtproject import (
    DbtProject,
    Properties,
    SourceTable,
    load_dbt_project,
)
from medallion.onboard.dbt.jinja import THIS, NodeState, Renderer, snapshot_blocks
from medallion.onboard.dbt.report import DbtImport, Finding, ImportedTable
from medallion.onboard.dbt.sources import (
    database_source,
    external_location,
    file_reference,
    file_source,
)

_NAME_RE = re.compile(r"[^a-z0-9_]+")
#: a .yml value that is one Jinja expression: rendered to its value (a list stays a list)
_WHOLE_EXPRESSION = re.compile(r"\s*\{\{(.*)\}\}\s*", re.DOTALL)


@dataclass
class _Node:
    """A dbt model or snapshot on its way to a medallion model."""

    name: str  # the dbt name (what ref() says)
    table: str  # its name in the new project
    layer: str
    path: Path
    file: str
    text: str
    first_line: int = 1
    folder_config: dict[str, Any] = field(default_factory=dict)
    props: Properties | None = None
    snapshot: bool = False
    sql: str = ""  # rendered
    #: the dbt file's line of each line of `sql` (None where unknown)
    lines: list[int | None] = field(default_factory=list)
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def fqn(self) -> str:
        return f"{self.layer}.{self.table}"

    @property
    def target(self) -> str:
        """Its file in the new project."""
        return f"models/{self.layer}/{self.table}.sql"


def table_name(name: str) -> str:
    """A dbt name as a medallion table name (lower-case letters, digits, single '_')."""
    out = _NAME_RE.sub("_", name.lower())
    out = re.sub(r"_{2,}", "_", out).strip("_") or "model"
    return out if not out[0].isdigit() else f"t_{out}"


def import_project(
    source: Path,
    dest: Path,
    *,
    layer_mapping: list[str] | dict[str, str] | None = None,
    variables: dict[str, Any] | None = None,
) -> DbtImport:
    """Write the medallion project of the dbt project in `source` into `dest` (a new or empty
    folder); the report lists what was imported, changed on purpose and left as TODO."""
    project = load_dbt_project(source)
    dest = Path(os.path.abspath(dest))  # absolute, without ".."
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise TemplateError(
            "the folder already exists and is not empty",
            file=dest,
            hint="give a new folder for the imported project (medallion import dbt PATH DIR)",
        )
    report = DbtImport(dbt_project=project.name, source=source, dest=dest)
    work = dest.parent / f".{dest.name}.importing-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        _Importer(project, report, work, layer_mapping or {}, variables or {}).run()
        if dest.exists():
            dest.rmdir()
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return report


class _Importer:
    def __init__(
        self,
        project: DbtProject,
        report: DbtImport,
        work: Path,
        mapping: list[str] | dict[str, str],
        variables: dict[str, Any],
    ) -> None:
        self.project = project
        self.report = report
        self.work = work
        self.mapping = layers.parse_mapping(mapping)
        self.sources: dict[str, dict[str, Any]] = {}  # bronze name -> medallion.yml entry
        self.source_refs: dict[tuple[str, str], str] = {}  # (source, table) -> fqn
        self.refs: dict[str, str] = {}  # dbt name -> fqn
        self.nodes: list[_Node] = []
        #: the models and checks written: file in the new project -> (dbt file, layer.name,
        #: header, SQL, the dbt line of each line of the SQL), written again when a TODO about
        #: them is found later
        self.written: dict[str, tuple[str, str, dict[str, Any], str, list[int | None]]] = {}
        #: the models and checks whose SQL does not parse (each has its TODO)
        self.unparsed: set[str] = set()
        self._later: list[Callable[[], None]] = []
        self.renderer = Renderer(
            project,
            report,
            ref=self.refs.get,
            source=lambda s, t: self.source_refs.get((s, t)),
            variables=project.var_values(variables),
        )

    def run(self) -> None:
        self._seeds()
        self._sources()
        self._models()
        self._snapshots()
        for node in self.nodes:
            self._render(node)
        for later in self._later:
            later()
        self._singular_tests()
        for node in self.nodes:
            self._incremental_inputs(node)
            self._check_sql(node.target, node.file, node.fqn, node.header, node.sql, node.lines)
            self._write_model(node)
        self._load_check()
        self._write_project_file()

    # -- bronze: seeds and sources ---------------------------------------------------------

    def _bronze_name(self, wanted: str, origin: tuple[str, int | None]) -> str:
        name = table_name(wanted)
        if name in self.sources:
            taken = name
            n = 2
            while f"{taken}_{n}" in self.sources:
                n += 1
            name = f"{taken}_{n}"
            self.report.note(*origin, f"{wanted} is bronze.{name} ({taken} was taken)")
        elif name != wanted:
            self.report.note(*origin, f"{wanted} is bronze.{name} (medallion's table names)")
        return name

    def _seeds(self) -> None:
        from medallion.config.schema import FileSource

        for folder in self.project.seed_paths:
            base = self.project.root / folder
            for path in sorted(base.rglob("*.csv")):
                file = self.project.rel(path)
                parts = path.relative_to(base).parts[:-1]
                props = self.project.seeds.get(path.stem)
                config = {
                    **self.project.folder_config("seeds", (*parts, path.stem)),
                    **(props.config if props else {}),
                }
                if config.get("enabled") is False:
                    self.report.note(file, None, "disabled in dbt (enabled: false): not imported")
                    continue
                name = self._bronze_name(path.stem, (file, None))
                entry: dict[str, Any] = file_source(
                    self.project, self.report, self.work, file, None, (file, None), "data"
                )
                # a seed edited in place replaces its rows, as `dbt seed` does
                if "on_rewrite" in FileSource.model_fields:
                    entry["on_rewrite"] = "replace"
                if props and props.description:
                    entry["description"] = props.description
                types = config.get("column_types") or {}
                if types:
                    entry["columns"] = {str(k): str(v).upper() for k, v in types.items()}
                if config.get("delimiter"):
                    entry["delimiter"] = config["delimiter"]
                self.sources[name] = entry
                self.refs[path.stem] = f"bronze.{name}"
                table = ImportedTable(f"bronze.{name}", "files", file)
                self.report.tables.append(table)
                if props:
                    self._later.append(partial(self._seed_checks, entry, props, table))

    def _sources(self) -> None:
        for table in self.project.sources:
            origin = (table.file, table.line)
            location = table.meta.get("external_location") or table.config.get("external_location")
            seeded = self.refs.get(table.identifier)
            if not location and seeded is not None:
                # a source over the table a seed loads (dbt seed, then models read the source)
                self.source_refs[(table.source, table.name)] = seeded
                self.report.note(
                    *origin,
                    f"source {table.source}.{table.name} is the table the seed "
                    f"{table.identifier} loads: {seeded}",
                )
                entry = self.sources[seeded.split(".", 1)[1]]
                imported = next(t for t in self.report.tables if t.fqn == seeded)
                if table.description and "description" not in entry:
                    entry["description"] = table.description
                self._later.append(partial(self._source_checks, entry, table, imported))
                continue
            name = self._bronze_name(table.name, origin)
            found = (
                external_location(
                    str(location).format(name=table.name, identifier=table.identifier)
                )
                if location
                else None
            )
            if location and found is None:
                self.report.todo(
                    *origin,
                    f"external_location {location!r} is not one file or glob the import can "
                    "read: write the source's path: in medallion.yml",
                )
            if found is not None:
                entry = file_source(self.project, self.report, self.work, *found, origin)
                kind = "files"
            else:
                entry = database_source(table, self.report)
                kind = "database"
            if table.description:
                entry["description"] = table.description
            if any(desc for desc, _ in table.columns.values()):
                self.report.note(
                    *origin,
                    f"the column descriptions of source {table.source}.{table.name} are not "
                    "carried over (a source's `columns:` in medallion.yml are types); describe "
                    "them in the staging model that reads it",
                )
            self.sources[name] = entry
            self.source_refs[(table.source, table.name)] = f"bronze.{name}"
            imported = ImportedTable(f"bronze.{name}", kind, table.file)
            self.report.tables.append(imported)
            self._later.append(partial(self._source_checks, entry, table, imported))

    # the tests of seeds and sources, once every model has its name (a relationships test may
    # name one)

    def _seed_checks(self, entry: dict[str, Any], props: Properties, table: ImportedTable) -> None:
        checks = self._node_checks(props, None)
        if checks:
            entry["checks"] = checks
        table.checks = len(checks)

    def _source_checks(
        self, entry: dict[str, Any], source: SourceTable, table: ImportedTable
    ) -> None:
        ctx = self._test_context(source.file, source.line)
        checks = datatests.to_checks(source.tests, None, ctx)
        for column, (_, tests) in source.columns.items():
            checks += datatests.to_checks(tests, column, ctx)
        if source.loaded_at_field and source.freshness:
            checks += datatests.freshness_checks(source.loaded_at_field, source.freshness)
        checks = datatests.tidy_checks([*entry.get("checks", []), *checks])
        if checks:
            entry["checks"] = checks
        table.checks = len(checks)

    # -- models and snapshots: named first (ref() needs every name), rendered when written -----

    def _models(self) -> None:
        for folder in self.project.model_paths:
            base = self.project.root / folder
            for path in sorted(base.rglob("*")):
                if path.suffix not in (".sql", ".py") or not path.is_file():
                    continue
                file = self.project.rel(path)
                if path.suffix == ".py":
                    self.report.todo(
                        file,
                        None,
                        "a dbt Python model is not imported: write it as a medallion Python "
                        "model (models/<layer>/<name>.py with def model(ctx))",
                    )
                    continue
                parts = path.relative_to(base).parts[:-1]
                config = self.project.folder_config("models", (*parts, path.stem))
                props = self.project.models.get(path.stem)
                if {**config, **(props.config if props else {})}.get("enabled") is False:
                    self.report.note(file, None, "disabled in dbt (enabled: false): not imported")
                    continue
                layer = layers.layer_of(parts, config, self.mapping, Path(folder).name)
                if layer is None:
                    layer = layers.FALLBACK
                    where = parts[0] if parts else Path(folder).name
                    self.report.note(
                        file,
                        None,
                        f"no layer for folder {'/'.join(parts) or folder!r}: put in {layer} "
                        f"(choose with --layer {where}=LAYER)",
                    )
                self._add_node(
                    _Node(
                        path.stem,
                        table_name(path.stem),
                        layer,
                        path,
                        file,
                        path.read_text(encoding="utf-8-sig"),
                        1,
                        config,
                        props,
                    )
                )

    def _snapshots(self) -> None:
        layer = self.mapping.get("snapshots", "silver")
        for folder in self.project.snapshot_paths:
            for path in sorted((self.project.root / folder).rglob("*.sql")):
                text = path.read_text(encoding="utf-8-sig")
                file = self.project.rel(path)
                parts = path.relative_to(self.project.root / folder).parts[:-1]
                for name, body, line in snapshot_blocks(text):
                    config = self.project.folder_config("snapshots", (*parts, name))
                    self._add_node(
                        _Node(
                            name,
                            table_name(name),
                            layer,
                            path,
                            file,
                            body,
                            line,
                            config,
                            self.project.snapshots.get(name),
                            snapshot=True,
                        )
                    )

    def _add_node(self, node: _Node) -> None:
        taken = {n.fqn for n in self.nodes} | {f"bronze.{s}" for s in self.sources}
        if node.fqn in taken:
            wanted = node.table
            n = 2
            while f"{node.layer}.{wanted}_{n}" in taken:
                n += 1
            node.table = f"{wanted}_{n}"
            self.report.note(node.file, None, f"{node.name} is {node.fqn} ({wanted} was taken)")
        elif node.table != node.name:
            self.report.note(node.file, None, f"{node.name} is {node.fqn} (medallion's names)")
        self.nodes.append(node)
        self.refs[node.name] = node.fqn

    def _singular_tests(self) -> None:
        """dbt's singular tests (a SELECT of the failing rows) are medallion's singular checks:
        `checks/<name>.sql`, rendered as models are."""
        for folder in self.project.test_paths:
            base = self.project.root / folder
            for path in sorted(base.rglob("*.sql")):
                if "generic" in path.relative_to(base).parts:
                    continue  # {% test %} definitions: their uses are TODOs where they occur
                file = self.project.rel(path)
                fqn = f"checks.{table_name(path.stem)}"
                state = NodeState(file=file, fqn=fqn)
                text = path.read_text(encoding="utf-8-sig")
                sql = self.renderer.render(state, text)
                header: dict[str, Any] = {"description": f"Imported from the dbt test {file}."}
                if str(state.config.get("severity", "")).lower() == "warn":
                    header["severity"] = "warn"
                body, lines = text, []
                if sql is not None:
                    body, lines = tidy(sql, self.renderer.origins(state, text, sql), text)
                rel = f"checks/{table_name(path.stem)}.sql"
                self._check_sql(rel, file, fqn, header, body, lines)
                self._write(rel, file, fqn, header, body, lines)

    def _render(self, node: _Node) -> None:
        state = NodeState(file=node.file, fqn=node.fqn)
        sql = self.renderer.render(state, node.text, first_line=node.first_line)
        config = {
            **node.folder_config,
            **(node.props.config if node.props else {}),
            **state.config,
        }
        header: dict[str, Any] = self._kind(node, config, state)
        if header["kind"] == "merge" and state.incremental_checked:
            column = self._incremental_filter(node)
            if column is not None:
                header["order_by"] = column
                self.report.note(
                    node.file,
                    state.incremental_line,
                    f"the is_incremental() block reads rows newer than max({column}): "
                    f"order_by: {column}, so a key met twice keeps its latest row",
                )
        if sql is None:
            node.sql = node.text
        else:
            origins = self.renderer.origins(state, node.text, sql, first_line=node.first_line)
            body, node.lines = tidy(sql, origins, node.text, node.first_line)
            node.sql = self._read_files(node, body)
            if node.sql is not body:
                node.lines = []  # rewritten and pretty-printed: its lines are new
        if config.get("tags"):
            tags = config["tags"]
            header["tags"] = [tags] if isinstance(tags, str) else list(tags)
        props = node.props
        if props and props.description:
            header["description"] = props.description
        if props and any(desc for desc, _ in props.columns.values()):
            header["columns"] = {c: d for c, (d, _) in props.columns.items() if d}
        checks = self._node_checks(props, node.fqn) if props else []
        if checks:
            header["checks"] = checks
        for hook in ("pre_hook", "post_hook", "pre-hook", "post-hook"):
            if config.get(hook):
                self.report.todo(
                    node.file,
                    None,
                    f"{hook}: SQL dbt runs around the model is not imported ({config[hook]!r})",
                    model=node.fqn,
                )
        node.header = header

    def _incremental_filter(self, node: _Node) -> str | None:
        """The column of the model's own table an is_incremental() block compares new rows
        with (`where updated_at > (select max(updated_at) from {{ this }})`), read from the
        SQL dbt runs incrementally, as a SQLGlot tree."""
        import sqlglot
        import sqlglot.expressions as exp

        state = NodeState(file=node.file, fqn=node.fqn, incremental_run=True)
        sql = self.renderer.render(state, node.text, first_line=node.first_line)
        try:
            tree = sqlglot.parse_one(sql or "", dialect="duckdb")
        except sqlglot.errors.ParseError:
            return None
        for cmp in tree.find_all(exp.GT, exp.GTE):
            select = cmp.expression.unnest() if cmp.expression else None
            if not isinstance(select, exp.Select) or len(select.expressions) != 1:
                continue
            agg = select.expressions[0].unalias()
            source = select.find(exp.Table)
            if (
                isinstance(agg, exp.Max)
                and isinstance(agg.this, exp.Column)
                and source is not None
                and source.name == THIS
            ):
                return agg.this.name
        return None

    def _incremental_inputs(self, node: _Node) -> None:
        """An incremental model reads as new rows the tables that only grow (bronze, append
        models), also through views: as medallion's default, which sees direct reads only."""
        if node.header["kind"] not in ("merge", "append"):
            return
        by_fqn = {n.fqn: n for n in self.nodes}
        direct = reads(node.sql)
        growing: list[str] = []
        todo, seen = list(direct), set()
        while todo:
            fqn = todo.pop(0)
            if fqn in seen:
                continue
            seen.add(fqn)
            other = by_fqn.get(fqn)
            if fqn.startswith("bronze.") or (other and other.header["kind"] == "append"):
                growing.append(fqn)
            elif other is not None and other.header["kind"] == "view":
                todo.extend(reads(other.sql))
        if not growing:
            self.report.note(
                node.file,
                None,
                "incremental in dbt, but it reads no table that only grows (sources, seeds, "
                "append models): kind: table in medallion (rebuilt whole each run)",
            )
            for key in ("unique_key", "kind"):
                node.header.pop(key, None)
            node.header = {"kind": "table", **node.header}
        elif any(fqn not in direct for fqn in growing):
            node.header = _after_kind(node.header, "incremental_inputs", growing)

    def _write_model(self, node: _Node) -> None:
        self._write(node.target, node.file, node.fqn, node.header, node.sql, node.lines)
        checks = len(node.header.get("checks", []))
        self.report.tables.append(ImportedTable(node.fqn, node.header["kind"], node.file, checks))

    def _todos_of(self, file: str, fqn: str) -> list[Finding]:
        """The TODOs marked at the top of a model or singular check: its own, wherever they
        are in the dbt project (a test in schema.yml, a macro it calls), and those of its file
        that name no other model."""
        return [
            t for t in self.report.todos if t.model == fqn or (t.model is None and t.file == file)
        ]

    def _write(
        self,
        rel: str,
        origin: str,
        fqn: str,
        header: dict[str, Any],
        sql: str,
        lines: list[int | None],
    ) -> None:
        self.written[rel] = (origin, fqn, header, sql, lines)
        target = self.work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = model_text(origin, header, sql, self._todos_of(origin, fqn))
        target.write_text(text, encoding="utf-8")

    def _check_sql(
        self,
        rel: str,
        file: str,
        fqn: str,
        header: dict[str, Any],
        sql: str,
        lines: list[int | None],
    ) -> None:
        """A TODO, at the dbt file's line, for rendered SQL that DuckDB's parser (or SQLGlot,
        which medallion reads models with) refuses: the import never writes SQL that cannot run
        without saying so. Jinja left in the SQL has its TODO already."""
        from medallion.errors import ModelError
        from medallion.models.jinja import jinja_error
        from medallion.models.sql import parse_select

        try:
            parse_select(sql, error=ModelError)
            return
        except ModelError as e:
            self.unparsed.add(fqn)
            if jinja_error(sql, set()) is not None:
                return  # Jinja is left only with a TODO saying why
            problem = e
        line = problem.line
        origin = lines[line - 1] if line and line <= len(lines) else None
        # the line in the file as written: below its comment lines and header, this TODO's too
        placeholder = Finding(file, None, "", fqn)
        top = model_text(file, header, "", [*self._todos_of(file, fqn), placeholder]).count("\n")
        at = rel
        if line:
            at += f":{top + line}" + (f":{problem.column}" if problem.column else "")
        self.report.todo(
            file,
            origin,
            f"the SQL as rendered does not parse ({at}: {problem.message}): fix it in {rel}; "
            "dbt's own SQL for it is in the dbt project's target/compiled/ after dbt compile",
            model=fqn,
        )

    def _kind(self, node: _Node, config: dict[str, Any], state: NodeState) -> dict[str, Any]:
        """The model header's kind (and its options) for a dbt materialization."""
        if node.snapshot:
            return self._snapshot_kind(node, config)
        materialized = str(config.get("materialized") or "view").lower()
        unique_key = config.get("unique_key")
        keys = [unique_key] if isinstance(unique_key, str) else list(unique_key or [])
        if materialized in ("view", "table"):
            return {"kind": materialized}
        if materialized == "ephemeral":
            self.report.note(
                node.file, None, "ephemeral in dbt (inlined where used): a view in medallion"
            )
            return {"kind": "view"}
        if materialized == "incremental":
            strategy = str(config.get("incremental_strategy") or "").lower()
            if state.incremental_checked:
                self.report.note(
                    node.file,
                    state.incremental_line,
                    "the is_incremental() block is dropped: medallion's incremental kinds read "
                    "only what is new upstream by themselves",
                )
            if keys and strategy in ("", "merge", "delete+insert"):
                self.report.note(
                    node.file,
                    None,
                    "incremental in dbt, kind: merge in medallion: when rows upstream change or "
                    "go (a seed edited, a row deleted), the next run updates or deletes their "
                    "keys, as a full rebuild would; dbt's incremental run keeps the rows it "
                    "wrote before until --full-refresh. medallion's table always equals its "
                    "model over the current inputs",
                )
                return {"kind": "merge", "unique_key": keys[0] if len(keys) == 1 else keys}
            if not keys and strategy in ("", "append"):
                return {"kind": "append"}
            self.report.todo(
                *self._config_origin(node, state, "incremental_strategy"),
                f"incremental_strategy {strategy!r} has no medallion kind: written as kind: "
                "table (rebuilt whole each run); consider merge or incremental_by_time",
                model=node.fqn,
            )
            return {"kind": "table"}
        self.report.todo(
            *self._config_origin(node, state, "materialized"),
            f"materialized={materialized!r} is specific to a warehouse or a package: written "
            "as kind: table; choose the medallion kind that fits (table, view, merge, append)",
            model=node.fqn,
        )
        return {"kind": "table"}

    def _config_origin(self, node: _Node, state: NodeState, key: str) -> tuple[str, int | None]:
        """Where a node's config `key` was set: its config() call, its .yml entry, or the
        folder's config in dbt_project.yml."""
        if key in state.config:
            return node.file, state.config_line
        if node.props is not None and key in node.props.config:
            return node.props.file, node.props.line
        folder = node.path.parent.relative_to(self._model_root(node)).parts
        line = self.project.config_line("models", (*folder, node.name), key)
        return ("dbt_project.yml", line) if line is not None else (node.file, None)

    def _model_root(self, node: _Node) -> Path:
        for folder in self.project.model_paths:
            root = self.project.root / folder
            if root in node.path.parents:
                return root
        return node.path.parent

    def _snapshot_kind(self, node: _Node, config: dict[str, Any]) -> dict[str, Any]:
        unique_key = config.get("unique_key")
        keys = [unique_key] if isinstance(unique_key, str) else list(unique_key or [])
        if not keys:
            self.report.todo(
                node.file,
                node.first_line,
                "a snapshot without unique_key: written as kind: table; give it a unique_key "
                "(kind: scd2)",
                model=node.fqn,
            )
            return {"kind": "table"}
        header: dict[str, Any] = {"kind": "scd2", "unique_key": keys[0] if len(keys) == 1 else keys}
        strategy = str(config.get("strategy") or "timestamp").lower()
        if strategy == "timestamp" and config.get("updated_at"):
            header["valid_from"] = str(config["updated_at"])
        elif strategy == "check" and isinstance(config.get("check_cols"), list):
            header["track"] = [str(c) for c in config["check_cols"]]
        self.report.note(
            node.file,
            node.first_line,
            f"snapshot {node.name} is an scd2 model: its history columns are valid_from, "
            "valid_to and is_current (dbt: dbt_valid_from, dbt_valid_to; no dbt_scd_id, "
            "dbt_updated_at)",
        )
        return header

    def _read_files(self, node: _Node, sql: str) -> str:
        """`read_csv('data/x.csv')` and the like in a model become `bronze.x`, a files source
        (rewritten as SQLGlot trees; the SQL is written back pretty-printed)."""
        if "{{" in sql or "{%" in sql:
            return sql
        import sqlglot
        import sqlglot.expressions as exp

        try:
            tree = sqlglot.parse_one(sql, dialect="duckdb")
        except sqlglot.errors.ParseError:
            return sql
        changed = False
        for table in list(tree.find_all(exp.Table)):
            found = file_reference(table.this)
            if found is None:
                continue
            pattern, fmt = found
            origin = (node.file, None)
            stem = re.sub(r"[*?\[\]{}]", "", Path(pattern).name.split(".")[0]).strip("_-")
            name = self._bronze_name(table_name(stem or node.table), origin)
            options = [a for a in table.this.expressions if isinstance(a, exp.EQ)]
            if options:
                self.report.note(
                    *origin,
                    f"the reading options of {pattern} ("
                    + ", ".join(o.sql(dialect="duckdb") for o in options)
                    + ") are not carried over: medallion infers them; set them on the source "
                    "in medallion.yml (delimiter:, header:, ...) where it guesses wrong",
                )
            self.sources[name] = file_source(
                self.project, self.report, self.work, pattern, fmt, origin
            )
            self.report.tables.append(ImportedTable(f"bronze.{name}", "files", node.file))
            self.report.note(
                *origin, f"{pattern}, read by the model, is the files source bronze.{name}"
            )
            alias = table.alias or name
            table.replace(exp.table_("" + name, db="bronze", alias=alias))
            changed = True
        return tree.sql(dialect="duckdb", pretty=True) + "\n" if changed else sql

    # -- tests -----------------------------------------------------------------------------

    def _test_context(
        self, file: str, line: int | None, model: str | None = None
    ) -> datatests.TestContext:
        """The context of the tests of one node (`model`: the imported model they are checks
        of, whose top their TODOs are marked at; None for a source or seed)."""

        def resolve(expression: str) -> str | None:
            state = NodeState(file=file, fqn=model or "")
            value = self.renderer.render_expression(state, expression)
            return value if isinstance(value, str) and "{{" not in value else None

        def render(value: Any, at: int | None) -> Any:
            # dbt renders a test's arguments as it renders models: `values: "{{ var('s') }}"`
            # is the var's list (a whole `{{ ... }}` keeps its value's type)
            if isinstance(value, list):
                return [render(v, at) for v in value]
            if isinstance(value, dict):
                return {k: render(v, at) for k, v in value.items()}
            if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
                return value
            state = NodeState(file=file, fqn=model or "", line=at)
            whole = _WHOLE_EXPRESSION.fullmatch(value)
            if whole is not None:
                return self.renderer.render_expression(state, whole.group(1))
            rendered = self.renderer.render(state, value)
            return value if rendered is None else rendered

        def todo(at: str, at_line: int | None, message: str) -> None:
            self.report.todo(at, at_line, message, model=model)

        return datatests.TestContext(
            file=file, line=line, resolve=resolve, todo=todo, note=self.report.note, render=render
        )

    def _node_checks(self, props: Properties, model: str | None) -> list[dict[str, Any]]:
        ctx = self._test_context(props.file, props.line, model)
        checks = datatests.to_checks(props.tests, None, ctx)
        for column, (_, tests) in props.columns.items():
            checks += datatests.to_checks(tests, column, ctx)
        return datatests.tidy_checks(checks)

    def _load_check(self) -> None:
        """Load the new project as `medallion validate` does (it stops at the first problem).
        A problem no TODO covers yet is a TODO of the model it names, marked at its top; one
        of medallion.yml is covered by the TODOs of sources."""
        from medallion.errors import MedallionError
        from medallion.workspace import Workspace

        self._write_project_file()
        try:
            Workspace.load(self.work).validate()
        except MedallionError as e:
            self.report.loads = False
            work = self.work.resolve()
            path = Path(e.file).resolve() if e.file else None
            rel = path.relative_to(work).as_posix() if path and path.is_relative_to(work) else None
            written = self.written.get(rel) if rel else None
            if written is None:
                if not any(t.model is None for t in self.report.todos):
                    where = f"{rel}: " if rel else ""
                    self.report.todo(
                        rel or "medallion.yml",
                        None,
                        f"the imported project does not load ({where}{e.message}): fix it there",
                    )
                return
            origin, fqn, header, sql, lines = written
            if fqn in self.unparsed:
                return  # its TODO says why already
            top = model_text(origin, header, "", self._todos_of(origin, fqn)).count("\n")
            body_line = e.line - top if e.line else 0
            dbt_line = lines[body_line - 1] if 0 < body_line <= len(lines) else None
            line = e.line + 1 if e.line else None  # below the TODO line this adds
            at = rel + (f":{line}" if line else "") + (f":{e.column}" if line and e.column else "")
            self.report.todo(
                origin,
                dbt_line,
                f"the imported project does not load ({at}: {e.message})"
                + (f"; {e.hint}" if e.hint else "")
                + ": fix it there",
                model=fqn,
            )
            self._write(rel or "", origin, fqn, header, sql, lines)
        else:
            self.report.loads = True

    # -- medallion.yml ---------------------------------------------------------------------

    def _write_project_file(self) -> None:
        config: dict[str, Any] = {
            "name": self.project.name,
            "description": f"Imported from the dbt project {self.project.name} "
            "(medallion import dbt).",
            "layers": list(layers.LAYERS),
            "sources": self.sources,
        }
        # the TODOs no model or check file is marked with (a source's, a seed's, a Python
        # model's) are marked here
        marked = {id(t) for o, f, *_ in self.written.values() for t in self._todos_of(o, f)}
        here = [t for t in self.report.todos if id(t) not in marked]
        text = (
            "# medallion project, imported from a dbt project by `medallion import dbt`.\n"
            "# Seeds and sources land in bronze; the dbt models are models/<layer>/<name>.sql.\n"
            + (
                "# TODO: work is left; see IMPORT.md and the TODO lines of the models.\n"
                if self.report.todos
                else ""
            )
            + "".join(f"# TODO({t.where}): {' '.join(t.message.split())}\n" for t in here)
            + dump_yaml(config)
        )
        (self.work / "medallion.yml").write_text(text, encoding="utf-8")
        (self.work / "IMPORT.md").write_text(import_notes(self.report), encoding="utf-8")


# -- text of the files ---------------------------------------------------------------------


def reads(sql: str) -> list[str]:
    """The `layer.table` names a model's SQL reads (none when it is not SQL yet: Jinja left)."""
    import sqlglot

    from medallion.models.sql import table_refs

    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
    except sqlglot.errors.ParseError:
        return []
    qualified, _ = table_refs(tree)
    return list(dict.fromkeys(ref.fqn for ref in qualified))


def _after_kind(header: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """The header with `key` placed right after the kind's own options."""
    out: dict[str, Any] = {}
    for k, v in header.items():
        if k in ("description", "columns", "checks", "tags") and key not in out:
            out[key] = value
        out[k] = v
    out.setdefault(key, value)
    return out


def tidy(
    sql: str, origins: list[int | None] | None = None, source: str = "", first_line: int = 1
) -> tuple[str, list[int | None]]:
    """Rendered Jinja's whitespace, and the dbt line of each line left. Blank where the dbt
    file was not (a line of `{% if %}` tags: dbt leaves it blank, as here, and it is taken
    out); no blank lines at the ends, at most one in a row, no trailing spaces. `origins`
    (`Renderer.origins`) gives the line of `source`, which starts at `first_line`, that each
    line of `sql` comes from. Only whitespace between two newlines goes: no two words meet."""
    written = source.split("\n")
    lines = [line.rstrip() for line in sql.split("\n")]
    known = origins or []
    out: list[str] = []
    where: list[int | None] = []
    for i, line in enumerate(lines):
        origin = known[i] if i < len(known) else None
        if not line:
            if not out or not out[-1]:
                continue
            at = origin - first_line if origin is not None else -1
            if 0 <= at < len(written) and written[at].strip():
                continue
        out.append(line)
        where.append(origin)
    while out and not out[-1]:
        out.pop()
        where.pop()
    return "\n".join(out) + "\n", where


class _Dumper(yaml.SafeDumper):
    """Block style for long and multi-line text (descriptions read as they were written), flow
    style for short lists (`[a, b]`), one key a line otherwise."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value.strip() else ">" if len(value) > 80 else None
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value.strip() if style else value, style=style
    )


def _list(dumper: Any, value: list[Any]) -> Any:
    flow = all(isinstance(v, str | int | float | bool) for v in value) and len(str(value)) < 80
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=96)


def model_text(origin: str, header: dict[str, Any], sql: str, todos: list[Any]) -> str:
    lines = [f"-- imported from dbt: {origin}"]
    lines += [f"-- TODO({t.where}): {' '.join(t.message.split())}" for t in todos]
    body = dump_yaml(header).replace("*/", "* /")
    return "\n".join(lines) + "\n/* ---\n" + body + "--- */\n" + sql


def import_notes(report: DbtImport) -> str:
    out = [
        f"# Imported from the dbt project {report.dbt_project}",
        "",
        "`medallion import dbt` wrote this project. Lines name the dbt project's files.",
        "",
        "## TODO",
        "",
    ]
    if not report.todos:
        out += ["Nothing left to do: the project loads (`medallion validate`)."]
    else:
        out += [
            (
                "The project does not load yet (`medallion validate` refuses it): do these first."
                if not report.loads
                else "The project loads (`medallion validate`), but does what the dbt project "
                "did only once these are done."
            )
            + " Each is marked at the top of the model or check it concerns (`-- TODO(...)`), "
            "the others at the top of medallion.yml.",
            "",
        ]
        out += [f"- `{t.where}`: {t.message}" for t in report.todos]
    out += ["", "## Changed on purpose", ""]
    out += [f"- `{n.where}`: {n.message}" for n in report.notes] or ["Nothing."]
    out += ["", "## Tables", ""]
    out += [f"- `{t.fqn}` ({t.kind}) from `{t.origin}`" for t in report.tables]
    return "\n".join(out) + "\n"
