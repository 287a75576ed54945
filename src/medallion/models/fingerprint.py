"""What a model means, as text and as a fingerprint: the table records the fingerprint of the
model version that built it, so a changed model is noticed and rebuilt (`medallion plan`).

The definition is the header's keys that change the rows written (kind and its options,
expectations, partitioning, the inputs read incrementally, a Python model's depends_on) and the
query itself — a SQL model's as SQLGlot prints it (comments, spacing and keyword case do not
count), a Python model's as `ast.unparse` prints it (its docstring header and comments do not
count). Descriptions, tags and table checks change no row and are left out.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medallion.models.loader import Model

#: header keys that change no row of the table
_NOT_SEMANTIC = {"description", "columns", "tags", "checks"}


def definition(model: Model) -> str:
    """The model as the text its fingerprint is taken of (shown as a diff when it changes).

    Remembered on the model: a run asks for it several times per step (the commit records it,
    every downstream model records its inputs' fingerprints, the plan compares them), and
    printing the tree costs milliseconds. The memo is keyed by the objects it was taken of, so
    a model given another config, text or tree (another object) is printed again."""
    memo = model.memo
    if (
        memo is not None
        and memo[0] is model.config
        and memo[1] is model.tree
        and memo[2] is model.text
    ):
        return memo[3]
    text = _definition(model)
    model.memo = (model.config, model.tree, model.text, text)
    return text


def _definition(model: Model) -> str:
    config = model.config.model_dump(mode="json", exclude=_NOT_SEMANTIC, exclude_defaults=True)
    config.setdefault("kind", model.config.kind)
    header = []
    for key, value in sorted(config.items()):
        # a mapping one line per entry (an expectation each), so a diff shows the one changed
        items = sorted(value.items()) if isinstance(value, dict) else [(None, value)]
        for sub, item in items:
            name = key if sub is None else f"{key}.{sub}"
            header.append(f"{name}: {json.dumps(item, sort_keys=True)}")
    return "\n".join([*header, "", _query(model)]) + "\n"


def fingerprint(model: Model) -> str:
    """A short hash of `definition(model)`."""
    return hashlib.sha256(definition(model).encode()).hexdigest()[:16]


def _query(model: Model) -> str:
    if model.language == "sql":
        if model.tree is None:  # read but not yet resolved (loader.read_model)
            return model.text
        from medallion.models.sql import DIALECT

        return model.tree.sql(dialect=DIALECT, pretty=True, comments=False)
    import ast

    tree = ast.parse(model.text)
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and first.value.value.lstrip().startswith("---")
    ):
        tree.body = tree.body[1:]  # the header, already in the definition as keys
    return ast.unparse(tree)
