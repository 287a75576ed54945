"""medallion.yml: its pydantic schema and a loader with friendly, line-numbered errors."""

from __future__ import annotations

from medallion.config.loader import PROJECT_FILE, find_project_root, load_project_config
from medallion.config.schema import FileSource, ProjectConfig, SourceConfig

__all__ = [
    "PROJECT_FILE",
    "FileSource",
    "ProjectConfig",
    "SourceConfig",
    "find_project_root",
    "load_project_config",
]
