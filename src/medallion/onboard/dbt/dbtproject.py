"""Reading a dbt project: dbt_project.yml (paths, vars, per-folder configs) and the property
files (sources, models, seeds, snapshots with their descriptions and tests), keeping the line
each entry starts on so findings can point at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medallion.errors import ConfigError

#: configs whose value is a mapping (so a mapping under a folder is not always a subfolder)
_MAPPING_CONFIGS = {
    "column_types",
    "meta",
    "docs",
    "persist_docs",
    "grants",
    "contract",
    "partition_by",
    "labels",
}


class LineDict(dict):
    """A YAML mapping that knows the line it starts on (1-based)."""

    line: int | None = None


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict(loader.construct_pairs(node, deep=True))
    out.line = node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, root: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8-sig"), Loader=_LineLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(
            f"not valid YAML: {getattr(e, 'problem', None) or e}",
            file=path,
            line=mark.line + 1 if mark else None,
            hint="dbt would refuse this file too; fix it and import again",
        ) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"file is not UTF-8 text ({e.reason})", file=path) from None


def line_of(value: Any) -> int | None:
    return getattr(value, "line", None)


@dataclass
class Properties:
    """A node's entry in a property (.yml) file."""

    name: str
    file: str
    line: int | None
    description: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: column name -> (description, tests)
    columns: dict[str, tuple[str | None, list[Any]]] = field(default_factory=dict)
    tests: list[Any] = field(default_factory=list)


@dataclass
class SourceTable:
    source: str  # the source's name (ref: source(source, name))
    name: str
    file: str
    line: int | None
    schema: str
    identifier: str
    description: str | None
    meta: dict[str, Any]
    config: dict[str, Any]
    columns: dict[str, tuple[str | None, list[Any]]]
    tests: list[Any]
    loaded_at_field: str | None
    freshness: dict[str, Any] | None


@dataclass
class DbtProject:
    root: Path
    name: str
    model_paths: list[str]
    seed_paths: list[str]
    snapshot_paths: list[str]
    macro_paths: list[str]
    test_paths: list[str]
    vars: dict[str, Any]
    #: `models:` / `seeds:` / `snapshots:` of dbt_project.yml, below the project's own name
    configs: dict[str, dict[str, Any]]
    sources: list[SourceTable] = field(default_factory=list)
    models: dict[str, Properties] = field(default_factory=dict)
    seeds: dict[str, Properties] = field(default_factory=dict)
    snapshots: dict[str, Properties] = field(default_factory=dict)

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def folder_config(self, resource: str, parts: tuple[str, ...]) -> dict[str, Any]:
        """The config dbt_project.yml gives a node in folder `parts` (relative to its path),
        inner folders overriding outer ones; `+key` and plain `key` alike."""
        tree: Any = self.configs.get(resource, {})
        out: dict[str, Any] = {}
        for depth in range(len(parts) + 1):
            if not isinstance(tree, dict):
                break
            child = parts[depth] if depth < len(parts) else None
            for key, value in tree.items():
                plain = key[1:] if key.startswith("+") else key
                if key.startswith("+") or (
                    key != child and (not isinstance(value, dict) or plain in _MAPPING_CONFIGS)
                ):
                    out[plain] = value
            if child is None:
                break
            tree = tree.get(child)
        return out

    def packages(self) -> list[tuple[str, Path, list[str]]]:
        """(name, root, macro paths) of the packages the project installed (`dbt deps` puts
        them in dbt_packages/) or names as local folders in packages.yml."""
        roots: list[Path] = []
        for folder in ("dbt_packages", "dbt_modules"):
            if (self.root / folder).is_dir():
                roots += sorted(p for p in (self.root / folder).iterdir() if p.is_dir())
        listed = self.root / "packages.yml"
        if listed.is_file():
            data = read_yaml(listed, self.root) or {}
            for entry in data.get("packages") or [] if isinstance(data, dict) else []:
                if isinstance(entry, dict) and entry.get("local"):
                    roots.append((self.root / str(entry["local"])).resolve())
        out: list[tuple[str, Path, list[str]]] = []
        seen: set[str] = set()
        for root in roots:
            config: Any = {}
            if (root / "dbt_project.yml").is_file():
                config = read_yaml(root / "dbt_project.yml", self.root) or {}
            name = str(config.get("name") or root.name) if isinstance(config, dict) else root.name
            if name in seen or name == self.name:
                continue
            seen.add(name)
            paths = config.get("macro-paths", ["macros"]) if isinstance(config, dict) else []
            out.append((name, root, [paths] if isinstance(paths, str) else list(paths)))
        return out

    def config_line(self, resource: str, parts: tuple[str, ...], key: str) -> int | None:
        """The line of dbt_project.yml that gives `key` to folder `parts` (the innermost)."""
        tree: Any = self.configs.get(resource, {})
        line = None
        for depth in range(len(parts) + 1):
            if not isinstance(tree, dict):
                break
            if f"+{key}" in tree or (key in tree and not isinstance(tree[key], dict)):
                line = line_of(tree)
            if depth == len(parts):
                break
            tree = tree.get(parts[depth])
        return line

    def var_values(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """dbt's vars for this project's nodes: global ones, then those scoped to the project,
        then `--vars`."""
        values = {
            k: v for k, v in self.vars.items() if not (k == self.name and isinstance(v, dict))
        }
        scoped = self.vars.get(self.name)
        if isinstance(scoped, dict):
            values.update(scoped)
        values.update(overrides)
        return values


def load_dbt_project(root: Path) -> DbtProject:
    path = root / "dbt_project.yml"
    if not path.is_file():
        raise ConfigError(
            "no dbt_project.yml in this folder",
            file=root,
            hint="give the folder of a dbt project (the one holding dbt_project.yml)",
        )
    data = read_yaml(path, root) or {}
    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError(
            "dbt_project.yml has no `name:`", file=path, hint="a dbt project names itself"
        )
    name = str(data["name"])

    def paths(key: str, default: str) -> list[str]:
        value = data.get(key, data.get(key.replace("-", "_"), [default]))
        return [value] if isinstance(value, str) else [str(v) for v in value or []]

    configs: dict[str, dict[str, Any]] = {}
    for resource in ("models", "seeds", "snapshots"):
        tree = data.get(resource) or {}
        # configs under the project's own name apply to it; those under another name to a package
        own = tree.get(name, {}) if isinstance(tree, dict) else {}
        top = {k: v for k, v in tree.items() if k.startswith("+")} if isinstance(tree, dict) else {}
        configs[resource] = {**top, **(own if isinstance(own, dict) else {})}
    project = DbtProject(
        root=root,
        name=name,
        model_paths=paths("model-paths", "models"),
        seed_paths=paths("seed-paths", "seeds"),
        snapshot_paths=paths("snapshot-paths", "snapshots"),
        macro_paths=paths("macro-paths", "macros"),
        test_paths=paths("test-paths", "tests"),
        vars=dict(data.get("vars") or {}),
        configs=configs,
    )
    for folder in {*project.model_paths, *project.seed_paths, *project.snapshot_paths}:
        for yml in sorted((root / folder).rglob("*.y*ml")):
            if yml.suffix in (".yml", ".yaml"):
                _read_properties(project, yml)
    return project


def _columns(entry: dict[str, Any]) -> dict[str, tuple[str | None, list[Any]]]:
    out: dict[str, tuple[str | None, list[Any]]] = {}
    for col in entry.get("columns") or []:
        if isinstance(col, dict) and col.get("name"):
            tests = list(col.get("data_tests") or []) + list(col.get("tests") or [])
            out[str(col["name"])] = (col.get("description") or None, tests)
    return out


def _props(entry: dict[str, Any], file: str) -> Properties:
    return Properties(
        name=str(entry["name"]),
        file=file,
        line=line_of(entry),
        description=entry.get("description") or None,
        config=dict(entry.get("config") or {}),
        columns=_columns(entry),
        tests=list(entry.get("data_tests") or []) + list(entry.get("tests") or []),
    )


def _read_properties(project: DbtProject, path: Path) -> None:
    data = read_yaml(path, project.root)
    if not isinstance(data, dict):
        return
    file = project.rel(path)
    for kind in ("models", "seeds", "snapshots"):
        target = getattr(project, kind)
        for entry in data.get(kind) or []:
            if isinstance(entry, dict) and entry.get("name"):
                target[str(entry["name"])] = _props(entry, file)
    for src in data.get("sources") or []:
        if not isinstance(src, dict) or not src.get("name"):
            continue
        src_meta = {**(src.get("meta") or {}), **((src.get("config") or {}).get("meta") or {})}
        src_config = dict(src.get("config") or {})
        for table in src.get("tables") or []:
            if not isinstance(table, dict) or not table.get("name"):
                continue
            config = {**src_config, **(table.get("config") or {})}
            meta = {**src_meta, **(table.get("meta") or {}), **(config.get("meta") or {})}
            freshness = table.get("freshness", config.get("freshness", src.get("freshness")))
            project.sources.append(
                SourceTable(
                    source=str(src["name"]),
                    name=str(table["name"]),
                    file=file,
                    line=line_of(table),
                    schema=str(src.get("schema") or src["name"]),
                    identifier=str(table.get("identifier") or table["name"]),
                    description=table.get("description") or src.get("description") or None,
                    meta=meta,
                    config=config,
                    columns=_columns(table),
                    tests=list(table.get("data_tests") or []) + list(table.get("tests") or []),
                    loaded_at_field=table.get("loaded_at_field")
                    or config.get("loaded_at_field")
                    or src.get("loaded_at_field"),
                    freshness=freshness if isinstance(freshness, dict) else None,
                )
            )
