"""The engine a project's `engine: {type: ...}` names, made for one command.

Each engine package has a `from_config(catalog, config, temp_dir)`; this table names them, so an
engine is added by a package and a line here, never by a branch in the code that uses engines.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from medallion.config.schema import EngineConfig
    from medallion.engine.base import Engine
    from medallion.models.loader import Model
    from medallion.storage.catalog import Catalog

#: engine type -> the package whose `from_config` makes it
ENGINES = {"duckdb": "medallion.engine.duckdb", "spark": "medallion.engine.spark"}


def new_engine(catalog: Catalog, config: EngineConfig, temp_dir: Path) -> Engine:
    """An engine of the configured type over the project's tables."""
    return import_module(ENGINES[config.type]).from_config(catalog, config, temp_dir)


def check_models(config: EngineConfig, models: Mapping[str, Model]) -> None:
    """Raise the ModelError listing what the models use that the engine cannot run (an engine
    package's `refusals`; DuckDB runs what loaded)."""
    refusals = getattr(import_module(ENGINES[config.type]), "refusals", None)
    if refusals is not None:
        refusals(models)


def check_environment(config: EngineConfig) -> None:
    """Raise the ConfigError of what the engine needs and does not find (an engine package's
    `preflight`: installed libraries, a cluster's address), before it is started."""
    preflight = getattr(import_module(ENGINES[config.type]), "preflight", None)
    if preflight is not None:
        preflight(config)
