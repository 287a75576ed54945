"""Which medallion layer a dbt model lands in: by its folder, as dbt projects name them."""

from __future__ import annotations

from typing import Any

LAYERS = ("bronze", "silver", "gold")

#: dbt's usual folder names (the first one of a model's path that is listed decides)
DEFAULT_FOLDERS = {
    "staging": "silver",
    "stg": "silver",
    "base": "silver",
    "intermediate": "silver",
    "int": "silver",
    "snapshots": "silver",
    "marts": "gold",
    "mart": "gold",
    "core": "gold",
    "reporting": "gold",
    "reports": "gold",
    "metrics": "gold",
    "presentation": "gold",
    "analytics": "gold",
    "bronze": "bronze",
    "silver": "silver",
    "gold": "gold",
}
#: a model whose folders name no layer
FALLBACK = "silver"


def layer_of(
    parts: tuple[str, ...], config: dict[str, Any], mapping: dict[str, str], root: str
) -> str | None:
    """The layer of a model in folder `parts` of the model path `root` (None: nothing says;
    the caller falls back): the user's mapping of its folders first, then a `+schema` named
    like a layer, then dbt's usual folder names, then the user's mapping of `root` (the
    models no folder places: `--layer models=gold`)."""
    for part in parts:
        if part in mapping:
            return mapping[part]
    schema = str(config.get("schema") or "").lower()
    if schema in LAYERS:
        return schema
    for part in parts:
        if part.lower() in DEFAULT_FOLDERS:
            return DEFAULT_FOLDERS[part.lower()]
    if schema in DEFAULT_FOLDERS:
        return DEFAULT_FOLDERS[schema]
    return mapping.get(root)


def parse_mapping(items: list[str] | dict[str, str]) -> dict[str, str]:
    """`FOLDER=LAYER` flags (or a mapping) checked against the layers."""
    from medallion.errors import ConfigError

    pairs = items.items() if isinstance(items, dict) else [i.partition("=")[::2] for i in items]
    out: dict[str, str] = {}
    for folder, layer in pairs:
        if not folder or layer not in LAYERS:
            raise ConfigError(
                f"--layer {folder}={layer}: write FOLDER=LAYER with a layer of {', '.join(LAYERS)}",
                hint="e.g. --layer marts=gold --layer finance=gold",
            )
        out[folder] = layer
    return out
