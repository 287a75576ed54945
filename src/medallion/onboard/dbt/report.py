"""What an import did: the tables it wrote, what it changed on purpose (notes) and what it could
not translate (TODOs, each with the dbt file and line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Finding:
    """One thing the user should know: `file:line` of the dbt project, and what."""

    file: str  # relative to the dbt project
    line: int | None
    message: str
    #: the imported model (or singular check) it concerns, `layer.name`, when its file is
    #: another (a test in schema.yml, a folder's config in dbt_project.yml, a macro)
    model: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class ImportedTable:
    """A source or model of the new project, and the dbt node it came from."""

    fqn: str  # layer.name
    kind: str  # files | database | table | view | merge | append | scd2
    origin: str  # the dbt file it came from, relative to the dbt project
    checks: int = 0


@dataclass
class DbtImport:
    """The result of `medallion import dbt`."""

    dbt_project: str  # its name in dbt_project.yml
    source: Path
    dest: Path
    tables: list[ImportedTable] = field(default_factory=list)
    #: changes made knowingly (an ephemeral model became a view, an is_incremental() block was
    #: dropped): the project runs, and means what the dbt project meant
    notes: list[Finding] = field(default_factory=list)
    #: what could not be translated: left in the files as it was, marked TODO
    todos: list[Finding] = field(default_factory=list)
    #: files copied into the new project (seeds, external source files), relative to dest
    copied: list[str] = field(default_factory=list)
    #: the new project loads as written (`medallion validate` passes; TODOs may be left)
    loads: bool = False

    @property
    def sources(self) -> list[ImportedTable]:
        return [t for t in self.tables if t.kind in ("files", "database")]

    @property
    def models(self) -> list[ImportedTable]:
        return [t for t in self.tables if t.kind not in ("files", "database")]

    def note(self, file: str, line: int | None, message: str) -> None:
        self.notes.append(Finding(file, line, message))

    def todo(self, file: str, line: int | None, message: str, *, model: str | None = None) -> None:
        finding = Finding(file, line, message, model)
        if not any((t.file, t.line, t.message) == (file, line, message) for t in self.todos):
            self.todos.append(finding)
