"""Load medallion.yml: YAML with line numbers, `${VAR}` interpolation, friendly validation errors.

Errors name the file, the line, the key path and a hint, e.g.

    medallion.yml:7:5: unknown key 'fromat' in sources.orders — did you mean 'format'?
"""

from __future__ import annotations

import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from medallion.errors import ConfigError, display_path, suggest

PROJECT_FILE = "medallion.yml"

# ${VAR} or ${VAR:-default}; "$${" escapes a literal "${"; any other "${" is an error
_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding medallion.yml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def read_yaml(path: Path, *, what: str = "file") -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file; returns (data, node tree) so errors can point at lines."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=path) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} is not UTF-8 text ({e.reason})", file=path) from None
    except OSError as e:  # not readable by this user, a folder, ...
        raise ConfigError(f"{what} cannot be read: {e.strerror or e}", file=path) from None
    return parse_yaml(text, path)


#: libyaml's parser when PyYAML was built with it (the pure-Python one took 0.16 s to read a
#: project file and nine model headers, twice the time of parsing the models' SQL)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, path: Path | str, line_offset: int = 0) -> tuple[Any, yaml.Node | None]:
    """The document's data and its node tree (for line numbers), from one parse."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        _refuse_repeated_keys(node, path, line_offset)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        lines = text.splitlines()
        at = lines[mark.line] if mark and mark.line < len(lines) else ""
        hint = "check the indentation and that every 'key: value' has a space after the colon"
        if "\t" in at[: (mark.column + 1) if mark else None]:
            hint = "YAML indents with spaces only: replace the tab on this line with spaces"
        raise ConfigError(
            f"invalid YAML: {problem}",
            file=path,
            line=(mark.line + 1 + line_offset) if mark else None,
            column=(mark.column + 1) if mark else None,
            hint=hint,
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=path) from None
    finally:
        loader.dispose()
    return data, node


def _refuse_repeated_keys(node: yaml.Node | None, path: Path | str, line_offset: int) -> None:
    """A key written twice in one mapping is an error: YAML would keep the last silently (a
    second `orders:` source replacing the first, a table's checks listed twice losing some)."""
    todo = [node] if node is not None else []
    while todo:
        current = todo.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in current.value:
                line = k.start_mark.line + 1 + line_offset
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in seen:
                        raise ConfigError(
                            f"key {k.value!r} is written twice (lines {seen[k.value]} and {line})",
                            file=path,
                            line=line,
                            column=k.start_mark.column + 1,
                            hint="merge the two into one, or rename one of them",
                        )
                    seen[k.value] = line
                todo.append(v)
        elif isinstance(current, yaml.SequenceNode):
            todo.extend(current.value)


def node_line(node: yaml.Node | None, loc: tuple[Any, ...], *, key: bool = False) -> int | None:
    """1-based line of the value (or, with key=True, of the key) at `loc` in a composed YAML tree.

    Falls back to the deepest node found when the path does not exist (e.g. a missing key)."""
    return _walk(node, loc, key)[0]


def _walk(node: yaml.Node | None, loc: tuple[Any, ...], key: bool) -> tuple[int | None, int]:
    """(line, how many parts of `loc` were found)."""
    if node is None:
        return None, 0
    line = node.start_mark.line + 1
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if str(k.value) == str(part):
                    if last and key:
                        return k.start_mark.line + 1, i + 1
                    node = v
                    break
            else:
                return line, i
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return line, i
        line = node.start_mark.line + 1
    return line, len(loc)


def _best_line(
    node: yaml.Node | None, locs: list[tuple[Any, ...]], key: bool = False
) -> int | None:
    """The line of whichever spelling of a location goes deepest into the YAML (a short-form
    check `- unique: id` has the check type as a key; the long form does not)."""
    best: tuple[int, int | None] = (-1, None)
    for loc in locs:
        line, depth = _walk(node, loc, key)
        if depth > best[0]:
            best = (depth, line)
    return best[1]


#: sections whose values only some commands use: a ${VAR} left unset there is resolved when a
#: command uses the value (ingesting the source, publishing to the target), not when the file is
#: loaded, so `status`, `query`, `tables` and `lineage` work without a source's credentials
LAZY_SECTIONS = ("sources", "publish", "notifications")


@dataclass(frozen=True)
class UnsetVariable:
    """A `${VAR}` without a value (and without a `:-default`) in a lazy section."""

    name: str
    loc: tuple[Any, ...]
    file: Path
    line: int | None

    @property
    def key(self) -> str:
        return dotted(self.loc)


def interpolate_env(
    data: Any,
    *,
    file: Path,
    node: yaml.Node | None,
    env: typing.Mapping[str, str] | None = None,
    unset: list[UnsetVariable] | None = None,
) -> Any:
    """Replace ${VAR} / ${VAR:-default} in every string value (not keys), recursively.

    A variable that is not set is an error, except under LAZY_SECTIONS when `unset` is given:
    there the value keeps its `${VAR}` text and the variable is appended to `unset`."""
    env = os.environ if env is None else env

    def walk(value: Any, loc: tuple[Any, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            missing: list[str] = []
            empty: list[str] = []

            def repl(m: re.Match[str]) -> str:
                if m.group(0) == "$${":
                    return "${"
                name, default = m.group(1), m.group(2)
                if name is None:
                    raise ConfigError(
                        f"unfinished ${{...}} in {dotted(loc)}: {value!r}",
                        file=file,
                        line=node_line(node, loc),
                        key=dotted(loc),
                        hint="write ${VAR} or ${VAR:-default} (a variable name, then '}'), "
                        "or $${ for a literal ${",
                    )
                if name in env:
                    if not env[name]:
                        empty.append(name)
                    return env[name]
                if default is not None:
                    return default
                missing.append(name)
                return m.group(0)

            resolved = _ENV_RE.sub(repl, value)
            if empty:
                _refuse_emptied_path(value, resolved, empty, loc, file, node)
            if not missing:
                return resolved
            found = [UnsetVariable(n, loc, file, node_line(node, loc)) for n in missing]
            if unset is None or not loc or loc[0] not in LAZY_SECTIONS:
                raise unset_error(found)
            unset.extend(found)
            return value  # as written: a command that uses it asks for the variable first
        return value

    return walk(data, ())


#: keys whose value is a path: a variable set to "" there must not turn it into another path
PATH_KEYS = ("path", "storage", "state", "models")


def _refuse_emptied_path(
    raw: str,
    resolved: str,
    empty: list[str],
    loc: tuple[Any, ...],
    file: Path,
    node: yaml.Node | None,
) -> None:
    """`path: ${LANDING}/orders*.csv` with LANDING set to "" would read /orders*.csv (the root
    of the disk), and an empty path the project folder itself: an error naming the variable."""
    keys = [p for p in loc if isinstance(p, str)]
    if not keys or keys[-1] not in PATH_KEYS:
        return
    if resolved.strip() and not (os.path.isabs(resolved) and not os.path.isabs(raw)):
        return
    names = ", ".join(dict.fromkeys(empty))
    became = f"the path {resolved!r}" if resolved.strip() else "an empty path"
    raise ConfigError(
        f"{dotted(loc)}: {names} is set but empty, which makes {raw!r} {became}",
        file=file,
        line=node_line(node, loc),
        key=dotted(loc),
        hint=f"set {empty[0]} to a folder, or unset it and give a default: ${{{empty[0]}:-data}}",
    )


def unset_error(unset: typing.Sequence[UnsetVariable]) -> ConfigError:
    """One message for every unset variable a command needs: where each is used, the first
    place as the error's file and line."""
    by_name: dict[str, list[UnsetVariable]] = {}
    for u in unset:
        by_name.setdefault(u.name, []).append(u)
    first = unset[0]

    def uses(name: str) -> str:
        return ", ".join(u.key for u in by_name[name])

    if len(by_name) == 1:
        message = f"environment variable {first.name} is not set (used in {uses(first.name)})"
    else:
        message = f"environment variables {', '.join(by_name)} are not set\n" + "\n".join(
            f"  {_where(found[0])}: {name} (used in {uses(name)})"
            for name, found in by_name.items()
        )
    lazy = bool(first.loc) and first.loc[0] in LAZY_SECTIONS
    return ConfigError(
        message,
        file=first.file,
        line=first.line,
        key=first.key,
        hint="export "
        + " ".join(f"{name}=..." for name in by_name)
        + f" before running, or write ${{{first.name}:-default}} in the file"
        + (
            "; commands that only read the lakehouse (status, query, tables, lineage) do not "
            "need " + ("it" if len(by_name) == 1 else "them")
            if lazy
            else ""
        ),
    )


def _where(u: UnsetVariable) -> str:
    shown = display_path(str(u.file))
    return f"{shown}:{u.line}" if u.line else shown


def dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the pydantic model reached by walking `loc` from `model` (for "did you
    mean")."""
    tp: Any = model
    for part in loc:
        member = _union_member(tp, part)
        if member is not None:
            # pydantic puts the discriminator value of a tagged union in the location
            tp = member
            continue
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return None
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return None


def _without_tags(model: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """`loc` without the discriminator values pydantic inserts for tagged unions (they are not
    keys the user wrote)."""
    out: list[Any] = []
    tp: Any = model
    for part in loc:
        member = _union_member(tp, part)
        if member is None:
            member = _plain_union_member(tp, part)
        if member is not None:
            tp = member
            continue
        out.append(part)
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            tp = field.annotation if field is not None else None
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            tp = None
    return tuple(out)


def _union_member(tp: Any, tag: Any) -> Any:
    """The member of a (possibly Annotated) tagged union whose `type` default is `tag`."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    for arg in typing.get_args(tp):
        tags = []
        if typing.get_origin(arg) is typing.Annotated:
            arg, *meta = typing.get_args(arg)
            tags = [getattr(m, "tag", None) for m in meta]
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            field = arg.model_fields.get("type")
            if tag in tags or (field is not None and field.default == tag):
                return arg
    return None


def _plain_union_member(tp: Any, tag: Any) -> Any:
    """The member of an untagged union (`str | list[str]`) that pydantic names `tag` in an
    error's location when the value matched none of them ('str', 'list[str]')."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) not in (typing.Union, types.UnionType) or not isinstance(tag, str):
        return None
    members = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(members) < 2:
        return None
    for arg in members:
        name = arg.__name__ if isinstance(arg, type) else str(arg).replace("typing.", "")
        if name.replace(" ", "") == tag.replace(" ", ""):
            return arg
    return None


def _unwrap(tp: Any) -> Any:
    """Optional[X] / Annotated[X, ...] -> X (first BaseModel/dict/list member of a union)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            arg = _unwrap(arg)
            if (isinstance(arg, type) and issubclass(arg, BaseModel)) or typing.get_origin(arg) in (
                dict,
                list,
            ):
                return arg
    return tp


def validation_error(
    err: ValidationError,
    model: Any,
    *,
    file: Path | str,
    node: yaml.Node | None,
    prefix: tuple[Any, ...] = (),
    line_offset: int = 0,
) -> ConfigError:
    """Turn pydantic's error list into one ConfigError: the first problem, with line and hint;
    further problems are listed below it."""
    messages: list[tuple[str, int | None, str | None, str | None]] = []
    for e in err.errors():
        raw = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc = _without_tags(model, raw)

        def line_at(
            loc_: tuple[Any, ...], n_raw: int, key: bool = False, raw: tuple[Any, ...] = raw
        ) -> int | None:
            return _best_line(node, [(*prefix, *loc_), (*prefix, *raw[:n_raw])], key)

        where = dotted((*prefix, *loc))
        hint = None
        kind = e["type"]
        if kind == "extra_forbidden":
            parent = loc[:-1]
            bad = str(loc[-1])
            fields = _fields_at(model, raw[:-1]) or []
            guess = suggest(bad, fields)
            msg = f"unknown key {bad!r} in {dotted((*prefix, *parent))}"
            if guess:
                msg += f" — did you mean {guess!r}?"
            elif fields:
                hint = "allowed keys: " + ", ".join(fields)
            line = line_at(loc, len(raw), key=True)
        elif kind == "missing":
            msg = f"missing required key {str(loc[-1])!r} in {dotted((*prefix, *loc[:-1]))}"
            line = line_at(loc[:-1], len(raw) - 1)
        elif kind == "literal_error":
            expected = e.get("ctx", {}).get("expected", "")
            got = e.get("input")
            msg = f"{where}: {got!r} is not allowed; expected {expected}"
            options = re.findall(r"'([^']*)'", str(expected))
            guess = suggest(str(got), options) if got is not None else None
            if guess:
                msg += f" — did you mean {guess!r}?"
            line = line_at(loc, len(raw))
        else:
            text = str(e["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            msg = f"{where}: {text}" if loc else text
            line = line_at(loc, len(raw))
        if line is not None:
            line += line_offset
        messages.append((msg, line, where, hint))
    messages = _merge_alternatives(messages)
    first_msg, first_line, first_key, first_hint = messages[0]
    if len(messages) > 1:
        shown = display_path(str(file))
        rest = "\n".join(
            f"  {shown}:{ln}: {m}" if ln else f"  {shown}: {m}" for m, ln, _, _ in messages[1:6]
        )
        more = f"\n  ... and {len(messages) - 6} more" if len(messages) > 6 else ""
        first_msg += f"\n{rest}{more}"
    return ConfigError(first_msg, file=file, line=first_line, key=first_key, hint=first_hint)


def _merge_alternatives(
    messages: list[tuple[str, int | None, str | None, str | None]],
) -> list[tuple[str, int | None, str | None, str | None]]:
    """One message per place for a value that fits no member of a union: pydantic reports
    "path: Input should be a valid string" and "path: Input should be a valid list"; this says
    "path: Input should be a valid string or a valid list"."""
    should = ": Input should be "
    out: list[tuple[str, int | None, str | None, str | None]] = []
    for msg, line, where, hint in messages:
        prev = out[-1] if out else None
        if (
            prev is not None
            and should in msg
            and prev[2] == where
            and prev[1] == line
            and prev[0].startswith(f"{where}{should}")
            and msg.startswith(f"{where}{should}")
        ):
            merged = f"{prev[0]} or {msg.removeprefix(f'{where}{should}')}"
            out[-1] = (merged, line, where, prev[3] or hint)
            continue
        out.append((msg, line, where, hint))
    return out


def load_project_config(
    root: Path, env: typing.Mapping[str, str] | None = None, environment: str | None = None
):
    """Read and validate <root>/medallion.yml. Returns a ProjectConfig.

    `environment` (else $MEDALLION_ENV) names an overlay under `environments:`, merged over
    the file's keys before they are validated."""
    from medallion.config.schema import ProjectConfig

    path = root / PROJECT_FILE
    data, node = read_yaml(path, what=PROJECT_FILE)
    if data is None:
        raise ConfigError(
            f"{PROJECT_FILE} is empty",
            file=path,
            hint="it needs at least `name: <project name>`; see `medallion init --help`",
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{PROJECT_FILE} must be a mapping of keys (name, sources, ...), "
            f"not a {type(data).__name__}",
            file=path,
            line=1,
        )
    environment = environment or (os.environ if env is None else env).get("MEDALLION_ENV") or None
    data = apply_environment(data, environment, file=path, node=node)
    # the overlays stay as written: another environment's ${VAR}s are not this one's business
    overlays = data.pop("environments", None) if isinstance(data, dict) else None
    unset: list[UnsetVariable] = []
    data = interpolate_env(data, file=path, node=node, env=env, unset=unset)
    if overlays is not None:
        data["environments"] = overlays
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as e:
        needed = _needed_to_validate(e, unset)
        if needed:  # the `${VAR}` text itself is not a valid value there: the variable is needed
            raise unset_error(needed) from None
        raise validation_error(e, ProjectConfig, file=path, node=node) from None
    config = _source_store_options(config)
    config._unset = tuple(unset)
    config._environment = environment
    if config.access is not None:
        config.access.bind(path, node)
    return config


def _source_store_options(config: Any) -> Any:
    """File sources whose `path:` is on the store of `storage:` (same scheme) get the project's
    `storage_options:` under their own: one set of credentials for a lakehouse and its landing
    folders, a source's own keys winning."""
    from medallion.config.schema import FileSource
    from medallion.config.urls import is_url, parse_url

    if not config.storage_options or not is_url(config.storage):
        return config
    scheme = parse_url(config.storage).scheme
    sources = dict(config.sources)
    changed = False
    for name, source in sources.items():
        if not isinstance(source, FileSource):
            continue
        urls = [p for p in source.paths if is_url(p) and "${" not in p]
        if urls and all(parse_url(p).scheme == scheme for p in urls):
            merged = {**config.storage_options, **source.storage_options}
            sources[name] = source.model_copy(update={"storage_options": merged})
            changed = True
    return config.model_copy(update={"sources": sources}) if changed else config


def _needed_to_validate(err: ValidationError, unset: list[UnsetVariable]) -> list[UnsetVariable]:
    """The unset variables whose `${VAR}` text failed validation: those whose value holds an
    error's location, and a source's `type:` (pydantic reports an unknown type at the source
    itself)."""
    from medallion.config.schema import ProjectConfig

    needed: list[UnsetVariable] = []
    for e in err.errors():
        raw = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc = _without_tags(ProjectConfig, raw)
        for u in unset:
            at_value = loc[: len(u.loc)] == u.loc
            chooses_type = u.loc[-1] == "type" and loc == u.loc[:-1]
            if (at_value or chooses_type) and u not in needed:
                needed.append(u)
    return needed


def apply_environment(
    data: dict[str, Any], name: str | None, *, file: Path, node: yaml.Node | None
) -> dict[str, Any]:
    """The file's keys with environment `name`'s overlay merged over them: mappings key by
    key, anything else (lists, values) replaced. Every overlay's keys are checked, the chosen
    one or not, so a typo in `prod:` is found on a laptop."""
    from medallion.config.schema import ProjectConfig

    envs = data.get("environments") or {}
    if not isinstance(envs, dict):
        return data  # validation names it
    allowed = set(ProjectConfig.model_fields) - {"environments", "name"}
    for env_name, overlay in envs.items():
        if overlay is None:
            continue
        if not isinstance(overlay, dict):
            raise ConfigError(
                f"environment {env_name!r} must be a mapping of medallion.yml keys "
                "(storage:, sources:, publish:, ...)",
                file=file,
                line=node_line(node, ("environments", env_name)),
            )
        for key in overlay:
            if key not in allowed:
                close = suggest(str(key), sorted(allowed))
                raise ConfigError(
                    f"environment {env_name!r} sets {key!r}, which an environment cannot set",
                    file=file,
                    line=node_line(node, ("environments", env_name, key), key=True),
                    hint=(f"did you mean {close!r}? " if close else "")
                    + f"an environment may set: {', '.join(sorted(allowed))}",
                )
    if not name:
        return data
    if name not in envs:
        raise ConfigError(
            f"environment {name!r} is not declared in {PROJECT_FILE}",
            file=file,
            hint=(
                f"declared: {', '.join(sorted(envs))}; "
                if envs
                else "add it under `environments:`, or "
            )
            + "unset MEDALLION_ENV / drop --env to use the file as written",
        )
    overlay = envs[name] or {}
    merged = _merge(data, overlay)
    if "storage" in overlay and "state" not in overlay:
        # the state database is a cache of one lakehouse: an environment with a lakehouse of
        # its own keeps its own (`.medallion-prod`), or its run log and ingest cache would be
        # the other lakehouse's
        base = str(data.get("state") or ProjectConfig.model_fields["state"].default)
        merged["state"] = f"{base.rstrip('/')}-{name}"
    return merged


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for k, v in overlay.items():
            merged[k] = _merge(base.get(k), v) if k in base else v
        return merged
    return overlay
