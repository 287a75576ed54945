"""The HTTP API of `medallion serve --http-port`: FastAPI under /api/v1, OpenAPI at /api/docs.

`create_app(project)` builds it over the `Project` façade; every data read goes through the
façade's user-aware read path (`query_reader(user=...)`: grants, masks, row filters, audit),
as the SQL endpoint's do. `docs/http-api.md` lists the routes.
"""

from __future__ import annotations

from medallion.serve.http.app import create_app

__all__ = ["create_app"]
