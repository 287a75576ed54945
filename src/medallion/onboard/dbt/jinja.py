"""dbt's Jinja, rendered once at import time into plain SQL.

A model is rendered with jinja2 and stand-ins for what dbt provides: `ref` and `source` become
`layer.name`, `config()` is recorded (it becomes the model header), `var` takes the project's
vars, `is_incremental()` is false (incrementality is medallion's own: the model's kind), and
the macros are callable as in dbt: the project's own (`macros/`), its packages' (`dbt_packages/`,
local packages), dbt's cross-database ones (`crossdb`), with `adapter.dispatch`. Anything else
(a macro of a package that is not installed, `run_query`, an unknown variable) is written back
as the Jinja it was and listed as a TODO with its file and line: the output never silently
means something else.
"""

from __future__ import annotations

import datetime
import itertools
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from medallion.onboard.dbt.crossdb import MACROS

if TYPE_CHECKING:
    from pathlib import Path

    from medallion.onboard.dbt.dbtproject import DbtProject
    from medallion.onboard.dbt.report import DbtImport

#: Jinja blocks plain jinja2 does not know: dbt's own tags, taken out before macros are read
_DBT_BLOCKS = re.compile(
    r"\{%-?\s*(test|materialization|docs|snapshot|data_test)\b.*?\{%-?\s*end\1\s*-?%\}",
    re.DOTALL,
)
_SNAPSHOT = re.compile(
    r"\{%-?\s*snapshot\s+(\w+)\s*-?%\}(?P<body>.*?)\{%-?\s*endsnapshot\s*-?%\}", re.DOTALL
)
_MISSING = object()
#: what `{{ this }}` renders as on an incremental run (see NodeState.incremental_run)
THIS = "__medallion_this__"


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def snapshot_blocks(text: str) -> list[tuple[str, str, int]]:
    """(name, body, line of the body) of each `{% snapshot name %}` block."""
    return [
        (m.group(1), m.group("body"), text.count("\n", 0, m.start("body")) + 1)
        for m in _SNAPSHOT.finditer(text)
    ]


def jinja_literal(value: Any) -> str:
    """A Python value written back as a Jinja literal (the arguments of a call kept as TODO)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jinja_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{jinja_literal(k)}: {jinja_literal(v)}" for k, v in value.items())
            + "}"
        )
    return str(value)


def _call_text(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [jinja_literal(a) for a in args] + [
        f"{k}={jinja_literal(v)}" for k, v in kwargs.items()
    ]
    return "{{ " + f"{name}({', '.join(parts)})" + " }}"


@dataclass
class NodeState:
    """The node being rendered: what its stand-ins read and record."""

    file: str  # relative to the dbt project
    fqn: str  # layer.name of the model in the new project
    config: dict[str, Any] = field(default_factory=dict)
    incremental_checked: bool = False
    incremental_line: int | None = None
    #: the line of the model's `{{ config(...) }}`
    config_line: int | None = None
    #: render as dbt does on an incremental run (is_incremental() true, `this` a placeholder),
    #: recording nothing: to read the filter the is_incremental() block applies
    incremental_run: bool = False
    #: lines where `{{ this }}` was rendered (a model reading itself)
    this_lines: list[int] = field(default_factory=list)
    #: a second render that only traces lines (`Renderer.origins`): records nothing
    quiet: bool = False
    #: the line of `file` a .yml value rendered is on (its own Jinja has no file)
    line: int | None = None

    @property
    def silent(self) -> bool:
        return self.incremental_run or self.quiet


class _Namespace:
    """`project_name.macro(...)` and `modules.datetime`: attributes from a mapping."""

    def __init__(self, items: dict[str, Any], missing: Callable[[str], Any]) -> None:
        self._items = items
        self._missing = missing

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._items:
            return self._items[name]
        return self._missing(name)


class _Config:
    """dbt's `config`: called in a model (`{{ config(materialized='table') }}`: recorded), read
    in a macro (`config.get('unique_key')`: what the node's config() said, else the default)."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return self._renderer._config_stand_in(*args, **kwargs)

    def get(self, name: str, default: Any = None) -> Any:
        state = self._renderer.state
        return state.config.get(name, default) if state is not None else default

    def require(self, name: str) -> Any:
        return self.get(name)


class Renderer:
    """One jinja2 environment for a project: its macros loaded once, each node rendered with
    its own state (`begin` ... `render`)."""

    def __init__(
        self,
        project: DbtProject,
        report: DbtImport,
        *,
        ref: Callable[[str], str | None],
        source: Callable[[str, str], str | None],
        variables: dict[str, Any],
    ) -> None:
        import jinja2

        self.project = project
        self.report = report
        self._ref = ref
        self._source = source
        self.variables = variables
        self.state: NodeState | None = None
        self._paths: dict[int, str] = {}  # id(template) -> file, for line numbers
        renderer = self

        class Unknown(jinja2.Undefined):
            """A name dbt would know and this import does not: kept as Jinja, listed as TODO."""

            __slots__ = ()

            def _dotted(self) -> str:
                if self._undefined_name is None:
                    return "?"
                obj = self._undefined_obj
                if obj is jinja2.utils.missing:
                    return self._undefined_name
                owner = getattr(obj, "_undefined_name", None) or type(obj).__name__
                return f"{owner}.{self._undefined_name}"

            def __getattr__(self, name: str) -> Any:
                if name.startswith("__"):
                    raise AttributeError(name)
                return Unknown(name=f"{self._dotted()}.{name}")

            def __call__(self, *args: Any, **kwargs: Any) -> str:
                return renderer.unknown_call(self._dotted(), args, kwargs)

            def __str__(self) -> str:
                return renderer.unknown_value(self._dotted())

            def __bool__(self) -> bool:
                renderer.todo(
                    f"`{self._dotted()}` is not known at import time: the {{% if %}} on it was "
                    "rendered as false; check the branch"
                )
                return False

            def __iter__(self) -> Any:
                renderer.todo(
                    f"`{self._dotted()}` is not known at import time: the loop over it wrote "
                    "nothing; write out what it should"
                )
                return iter(())

        self.env = jinja2.Environment(
            extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
            undefined=Unknown,
            # dbt's whitespace (its environment sets neither trim_blocks nor lstrip_blocks): the
            # newline after `{% endif %}` is kept, or `...,{% endif %}\nfrom` glues two words;
            # the blank lines of tag-only lines are taken out afterwards (`origins`)
            keep_trailing_newline=True,
        )
        self.env.globals.update(self._builtins())
        #: namespace -> its macros: dbt's own (`dbt.concat`), the project's, each package's
        self.namespaces: dict[str, dict[str, Callable[..., Any]]] = {"dbt": dict(MACROS)}
        self.env.globals.update(MACROS)  # dbt's macros are callable unqualified too
        # macros are read in two passes: their names first (every namespace and name in place),
        # then their modules, whose globals jinja2 copies when it makes them
        self._real: dict[tuple[str, str], Any] = {}
        self._pending: list[tuple[str, Any, str]] = []
        self.macros = self._read_macros(project.name, project.root, project.macro_paths)
        self.env.globals.update(self.macros)
        for name, root, paths in project.packages():
            self._read_macros(name, root, paths, own_globals=True)
        for name, macros in self.namespaces.items():
            self.env.globals[name] = _Namespace(macros, self._missing_in(name))
        self._make_macros()

    # -- where a stand-in was called from --------------------------------------------------

    def where(self) -> tuple[str, int | None]:
        """The dbt file and line of the Jinja being evaluated (innermost template frame)."""
        frame = sys._getframe(1)
        while frame is not None:
            tmpl = frame.f_globals.get("__jinja_template__")
            if tmpl is not None and id(tmpl) in self._paths:
                return self._paths[id(tmpl)], tmpl.get_corresponding_lineno(frame.f_lineno)
            frame = frame.f_back  # type: ignore[assignment]
        if self.state is None:
            return self.project.name, None
        return self.state.file, self.state.line

    def todo(self, message: str) -> None:
        if self.state is None or not self.state.silent:
            file, line = self.where()
            model = self.state.fqn if self.state is not None else None
            self.report.todo(file, line, message, model=model or None)

    def note(self, message: str) -> None:
        if self.state is None or not self.state.silent:
            file, line = self.where()
            self.report.note(file, line, message)

    def unknown_call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        text = _call_text(name, args, kwargs)
        package = name.split(".", 1)[0] if "." in name else None
        if package is not None and package not in self.namespaces and package.isidentifier():
            self.todo(
                f"`{name}(...)` is a macro of the package {package}, which is not installed: "
                f"run `dbt deps` in the dbt project and import again, or replace {text} with "
                "the SQL it produces"
            )
        else:
            self.todo(
                f"`{name}(...)` is not a macro medallion has (dbt's own, or one that needs the "
                f"warehouse): replace {text} with the SQL it produces"
            )
        return text

    def unknown_value(self, name: str) -> str:
        text = "{{ " + name + " }}"
        self.todo(f"`{name}` is not known at import time: replace {text} with its value")
        return text

    def _missing_in(self, namespace: str) -> Callable[[str], Any]:
        def missing(name: str) -> Any:
            def call(*args: Any, **kwargs: Any) -> str:
                return self.unknown_call(f"{namespace}.{name}", args, kwargs)

            return call

        return missing

    # -- dbt's context -------------------------------------------------------------------------

    def _builtins(self) -> dict[str, Any]:
        renderer = self

        class This:
            def _fqn(self) -> str:
                state = renderer.state
                assert state is not None
                if state.incremental_run:
                    return THIS
                _, line = renderer.where()
                if line is not None:
                    state.this_lines.append(line)
                renderer.todo(
                    "`{{ this }}` outside an is_incremental() block: the model reads its own "
                    "table, which medallion does not allow; rewrite it without the self-reference"
                )
                return state.fqn

            def __str__(self) -> str:
                return self._fqn()

            def __getattr__(self, name: str) -> Any:
                if name.startswith("__"):
                    raise AttributeError(name)
                state = renderer.state
                assert state is not None
                layer, _, table = state.fqn.partition(".")
                return {"schema": layer, "identifier": table, "name": table}.get(name, "main")

        class Target:
            values: ClassVar[dict[str, str]] = {
                "name": "dev",
                "target_name": "dev",
                "type": "duckdb",
                "schema": "main",
            }

            def __getattr__(self, name: str) -> Any:
                if name.startswith("__"):
                    raise AttributeError(name)
                renderer.note(
                    f"`target.{name}` was rendered for a dev DuckDB target "
                    f"({self.values.get(name, 'main')!r}): check the branch it chose"
                )
                return self.values.get(name, "main")

        class Adapter:
            def dispatch(self, name: str, macro_namespace: str | None = None) -> Any:
                # the project's own implementations first (dbt's dispatch search order), then
                # the namespace's: duckdb__x, then default__x (dbt's own: x itself)
                spaces = [renderer.project.name]
                if macro_namespace and macro_namespace not in spaces:
                    spaces.append(macro_namespace)
                for space in spaces:
                    macros = renderer.namespaces.get(space, {})
                    for candidate in (f"duckdb__{name}", f"default__{name}"):
                        if candidate in macros:
                            return macros[candidate]
                if name in renderer.namespaces["dbt"] and macro_namespace in (None, "dbt"):
                    return renderer.namespaces["dbt"][name]
                return renderer._missing_dispatch(name)

            def __getattr__(self, name: str) -> Any:
                if name.startswith("__"):
                    raise AttributeError(name)

                def call(*args: Any, **kwargs: Any) -> str:
                    return renderer.unknown_call(f"adapter.{name}", args, kwargs)

                return call

        def raise_compiler_error(message: str = "") -> str:
            renderer.todo(f"the dbt project raises a compiler error here: {message}")
            return ""

        def warn(message: str = "") -> str:
            renderer.note(f"dbt warns here: {message}")
            return ""

        def do_return(value: Any = None) -> Any:
            raise _Return(value)

        return {
            "ref": self._ref_stand_in,
            "source": self._source_stand_in,
            "config": _Config(self),
            "var": self._var_stand_in,
            "env_var": self._env_var_stand_in,
            "is_incremental": self._is_incremental,
            "this": This(),
            "target": Target(),
            "adapter": Adapter(),
            "exceptions": _Namespace(
                {"raise_compiler_error": raise_compiler_error, "warn": warn},
                self._missing_in("exceptions"),
            ),
            "return": do_return,
            "log": lambda *a, **k: "",
            "print": lambda *a, **k: "",
            "execute": True,
            "flags": _Namespace({"FULL_REFRESH": False, "WHICH": "run"}, lambda n: None),
            "project_name": self.project.name,
            "modules": _Namespace(
                {"datetime": datetime, "re": re, "itertools": itertools},
                lambda name: self.unknown_value(f"modules.{name}"),
            ),
            "tojson": json.dumps,
            "fromjson": json.loads,
            "zip": zip,
            "set": set,
        }

    def _missing_dispatch(self, name: str) -> Callable[..., str]:
        def call(*args: Any, **kwargs: Any) -> str:
            return self.unknown_call(f"adapter.dispatch('{name}')", args, kwargs)

        return call

    def _ref_stand_in(self, *args: Any, **kwargs: Any) -> str:
        name = str(args[-1]) if args else str(kwargs.get("name", ""))
        fqn = self._ref(name)
        if fqn is None:
            return self.unknown_call("ref", args, kwargs)
        return fqn

    def _source_stand_in(self, source_name: str, table_name: str) -> str:
        fqn = self._source(source_name, table_name)
        if fqn is None:
            text = _call_text("source", (source_name, table_name), {})
            self.todo(f"{text}: no such source in the project's .yml files; declare it")
            return text
        return fqn

    def _config_stand_in(self, *args: Any, **kwargs: Any) -> str:
        if self.state is not None:
            self.state.config_line = self.where()[1]
            self.state.config.update(kwargs)
            for arg in args:
                if isinstance(arg, dict):
                    self.state.config.update(arg)
        return ""

    def _var_stand_in(self, name: str, default: Any = _MISSING) -> Any:
        if name in self.variables:
            return self.variables[name]
        if default is not _MISSING:
            return default
        text = _call_text("var", (name,), {})
        self.todo(
            f"var {name!r} has no value in dbt_project.yml: give it one (--vars) or edit {text}"
        )
        return text

    def _env_var_stand_in(self, name: str, default: Any = _MISSING) -> Any:
        if default is not _MISSING:
            self.note(f"env_var({name!r}) was rendered as its default {default!r}")
            return default
        return self.unknown_call("env_var", (name,), {})

    def _is_incremental(self) -> bool:
        if self.state is None or self.state.incremental_run:
            return self.state is not None
        self.state.incremental_checked = True
        self.state.incremental_line = self.where()[1]
        return False

    # -- macros and nodes ------------------------------------------------------------------

    def _read_macros(
        self, namespace: str, root: Path, folders: list[str], *, own_globals: bool = False
    ) -> dict[str, Callable[..., Any]]:
        """The macros of the .sql files under `folders`, as the namespace `namespace`. A
        package's macros see each other unqualified (`own_globals`), as in dbt."""
        import jinja2
        from jinja2 import nodes

        macros = self.namespaces.setdefault(namespace, {})
        scope: dict[str, Any] | None = macros if own_globals else None
        for folder in folders:
            for path in sorted((root / folder).rglob("*.sql")):
                file = self.project.rel(path)
                text = _DBT_BLOCKS.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text())
                try:
                    names = [m.name for m in self.env.parse(text).find_all(nodes.Macro)]
                    tmpl = self.env.from_string(text, globals=scope)
                except jinja2.TemplateError as e:
                    self.report.todo(
                        file,
                        getattr(e, "lineno", None),
                        f"the import cannot read these macros ({e}); models calling them are "
                        "left as Jinja",
                    )
                    continue
                self._paths[id(tmpl)] = file
                self._pending.append((namespace, tmpl, file))
                for name in names:
                    macros[name] = self._deferred(namespace, name)
        return macros

    def _deferred(self, namespace: str, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return self._real[(namespace, name)](*args, **kwargs)
            except _Return as r:
                return r.value

        return call

    def _make_macros(self) -> None:
        import jinja2

        for namespace, tmpl, file in self._pending:
            try:
                module = tmpl.make_module()
            except Exception as e:  # a macro file's top level failed
                self.report.todo(file, _template_line(e), f"these macros fail at import ({e})")
                continue
            for name in dir(module):
                macro = getattr(module, name)
                if isinstance(macro, jinja2.runtime.Macro):
                    self._real[(namespace, name)] = macro

    def render(self, state: NodeState, text: str, *, first_line: int = 1) -> str | None:
        """The node's SQL with its Jinja rendered, or None when jinja2 cannot read it (a TODO
        says why; the caller keeps the text as it was)."""
        import jinja2

        self.state = state
        try:
            # blank lines keep the line numbers of a block cut out of a larger file
            tmpl = self.env.from_string("\n" * (first_line - 1) + text)
            self._paths[id(tmpl)] = state.file
            return tmpl.render()
        except jinja2.TemplateSyntaxError as e:
            self.report.todo(
                state.file,
                e.lineno,
                f"Jinja the import cannot read ({e.message}); the model is kept as it was",
                model=state.fqn or None,
            )
            return None
        except _Return as r:
            return str(r.value)
        except Exception as e:  # the project's Jinja failed (a macro's TypeError, ...)
            self.report.todo(
                state.file,
                _template_line(e),
                f"the Jinja fails at import ({type(e).__name__}: {e}); the model is kept as it was",
                model=state.fqn or None,
            )
            return None
        finally:
            self.state = None

    def origins(
        self, state: NodeState, text: str, rendered: str, *, first_line: int = 1
    ) -> list[int | None] | None:
        """The line of `text` (counted from `first_line`) whose newline ends each line of
        `rendered` (None where a macro or a value wrote the newline), found by rendering once
        more with a marker before each newline of the template's own text; None when that
        render differs from `rendered` once the markers are taken out (Jinja that inspects its
        own text), or fails."""
        source = "\n" * (first_line - 1) + text
        marked = _mark_lines(self.env, source)
        if marked is None:
            return None
        self.state = NodeState(file=state.file, fqn=state.fqn, quiet=True)
        try:
            out = self.env.from_string(marked).render()
        except Exception:  # the first render succeeded; this one only traces lines
            return None
        finally:
            self.state = None
        if _LINE_MARK.sub("", out) != rendered:
            return None
        lines: list[int | None] = []
        for segment in out.split("\n")[:-1]:
            found = _LINE_AT_END.search(segment)
            lines.append(int(found.group(1)) if found else None)
        return lines

    def render_expression(self, state: NodeState, text: str) -> Any:
        """A Jinja expression of a .yml file (`ref('customers')` in a relationships test)."""
        self.state = state
        try:
            return self.env.compile_expression(text, undefined_to_none=False)()
        finally:
            self.state = None


#: private-use characters, which no SQL holds: a line number before a newline of the template
_LINE_MARK = re.compile("\ue000(\\d+)\ue001")
_LINE_AT_END = re.compile("\ue000(\\d+)\ue001$")


def _mark_lines(env: Any, source: str) -> str | None:
    """`source` with `\\ue000N\\ue001` before each newline of its template text (not of its
    tags or comments), N that newline's line; None if the lexer's tokens cannot be placed."""
    marks: list[int] = []
    cursor = 0
    try:
        for _, token, value in env.lexer.tokeniter(source, None):
            at = source.find(value, cursor)
            # between two tokens only whitespace a `-` took away
            if at < 0 or source[cursor:at].strip():
                return None
            if token == "data":
                marks += [at + i for i, c in enumerate(value) if c == "\n"]
            cursor = at + len(value)
    except Exception:  # the lexer refused it: the render said why already
        return None
    out: list[str] = []
    start, line = 0, 1
    for at in marks:
        line += source.count("\n", start, at)
        out.append(source[start:at] + f"\ue000{line}\ue001")
        start = at
    out.append(source[start:])
    return "".join(out)


def _template_line(error: BaseException) -> int | None:
    """The line of the node's template an error came from (where it calls the macro that
    failed): jinja2 rewrites its traceback so that template frames carry template lines."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            return tb.tb_lineno
        tb = tb.tb_next
    return None
