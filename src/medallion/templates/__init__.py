"""Bundled example projects, one per system users migrate from, each with a data generator.

A template is a package `<name>/`: its `__init__.py` describes it (DESCRIPTION, DEFAULT_ROWS,
ROWS_UNIT, ORDER), `project/` is copied verbatim by `medallion init`, and `generate.py`'s
`generate(data_dir, rows, seed)` writes the project's input files (`generate_increment(data_dir,
day, rows, seed)`, when present, a later day's new input). Adding a template is adding a folder.
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from medallion.errors import TemplateError, suggest


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    #: scale `medallion init` generates (small: the project runs in seconds)
    default_rows: int
    #: what `rows` counts, for help texts
    rows_unit: str
    #: where the generated data go, when not files under data/ (e.g. a source database)
    data_location: str | None = None

    @property
    def package(self) -> str:
        return f"medallion.templates.{self.name.replace('-', '_')}"

    def project_files(self) -> Path:
        return Path(str(resources.files(self.package) / "project"))

    def scaffold(self, dest: Path) -> None:
        """Copy the template's project files into `dest` (which must not hold a project)."""
        if (dest / "medallion.yml").exists():
            raise TemplateError(
                f"{dest} already holds a medallion project",
                file=dest / "medallion.yml",
                hint="choose an empty or new folder",
            )
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            self.project_files(),
            dest,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "lakehouse", ".medallion"),
        )

    def demo_environment(self, dest: Path):
        """A context manager preparing what the demo needs (e.g. databases), yielding the
        environment variables it set; nothing for templates whose data are files."""
        import contextlib

        module = importlib.import_module(self.package)
        hook = getattr(module, "demo_environment", None)
        return hook(dest) if hook is not None else contextlib.nullcontext({})

    def demo_afterwards(self, dest: Path, env: dict[str, str]) -> str:
        """What the demo says last about the environment it prepared (e.g. how to start its
        database again); empty for templates without one."""
        module = importlib.import_module(self.package)
        hook = getattr(module, "demo_afterwards", None)
        return hook(dest, env) if hook is not None else ""

    def generate(
        self,
        root: Path,
        rows: int | None = None,
        seed: int | None = None,
        day: int | None = None,
    ) -> dict[str, int]:
        """Write the project's data files; with `day` (2, 3, ...), a later day's file drop next
        to the existing files instead (new and changed rows, for incremental runs)."""
        module = importlib.import_module(f"{self.package}.generate")
        seed = seed if seed is not None else 42
        if day is not None:
            if not hasattr(module, "generate_increment"):
                raise TemplateError(f"template {self.name!r} has no daily file drops")
            try:
                return module.generate_increment(root / "data", day=day, rows=rows, seed=seed)
            except ValueError as e:
                raise TemplateError(str(e), hint="run `medallion generate` first") from None
        return module.generate(
            root / "data", rows=rows if rows is not None else self.default_rows, seed=seed
        )


def _discover() -> dict[str, Template]:
    """Every sub-package with a `project/` folder is a template; its `__init__` says what it is
    (DESCRIPTION, DEFAULT_ROWS, ROWS_UNIT, ORDER: its place in listings, DATA_LOCATION: where its
    data go when not in files). A package name's
    underscores are the template name's hyphens (ecommerce_events -> ecommerce-events)."""
    import pkgutil

    found: list[tuple[int, Template]] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not hasattr(module, "DESCRIPTION"):
            continue
        template = Template(
            info.name.replace("_", "-"),
            module.DESCRIPTION,
            default_rows=module.DEFAULT_ROWS,
            rows_unit=module.ROWS_UNIT,
            data_location=getattr(module, "DATA_LOCATION", None),
        )
        found.append((getattr(module, "ORDER", 100), template))
    return {t.name: t for _, t in sorted(found, key=lambda pair: (pair[0], pair[1].name))}


TEMPLATES: dict[str, Template] = _discover()


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        guess = suggest(name, TEMPLATES)
        raise TemplateError(
            f"unknown template {name!r}",
            hint=(f"did you mean {guess!r}? " if guess else "")
            + "templates: "
            + ", ".join(TEMPLATES),
        ) from None
