"""A pipeline's `after:`/`notify:` mistakes point at that pipeline's line and name it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from medallion.config import load_project_config
from medallion.errors import ConfigError


def error_of(tmp_path: Path, text: str) -> ConfigError:
    (tmp_path / "medallion.yml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_project_config(tmp_path, {})
    return info.value


HEAD = """\
    # a comment
    name: shop
    pipelines:
"""


def test_a_cycle_points_at_the_after_line_and_names_the_pipelines(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        HEAD
        + """\
      ingest:
        select: [layer:bronze]
        after: [transform]
      transform: {select: [layer:silver], after: [ingest]}
    """,
    )
    assert err.line == 6
    assert "pipelines.ingest.after" in str(err)
    assert "circle: ingest -> transform -> ingest" in str(err)


def test_an_unknown_after_in_a_flow_mapping_points_at_its_line(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        HEAD
        + """\
      ingest: {select: [layer:bronze]}

      transform: {select: [layer:silver], after: [ingst]}
    """,
    )
    assert err.line == 6
    assert "pipelines.transform.after[0]" in str(err)
    assert "after names 'ingst', which is not a pipeline (pipelines: ingest, transform)" in str(err)


def test_a_pipeline_following_itself_is_named(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        HEAD
        + """\
      ingest: {select: [layer:bronze]}
      transform:
        select: [layer:silver]
        after:
          - transform
    """,
    )
    assert err.line == 8
    assert "pipeline 'transform' cannot follow itself" in str(err)


def test_an_unknown_notify_target_points_at_its_line(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        HEAD
        + """\
      ingest:
        notify: [opz]
    notifications:
      ops: {type: webhook, url: "https://example.com/hook"}
    """,
    )
    assert err.line == 5
    assert "notify names 'opz'" in str(err)
