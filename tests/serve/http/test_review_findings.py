"""What a review of the HTTP API and the UI found, each fixed and kept fixed: a hidden input's
columns in the column lineage, a bare secret echoed into the audit, xlsx cells read as
formulas, a lineage error naming tables the user may not read."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient
from tests.conftest import write_project
from tests.serve.http.conftest import PASSWORD, audit_rows, basic

from medallion.project import Project
from medallion.serve.http import create_app

CONFIG = """
name: leaky
sources:
  orders: {path: data/orders.csv}
  people: {path: data/people.csv}
access:
  grants:
    analysts: [gold.*, silver.orders]
"""
MODELS = {
    "silver/orders.sql": "select * from bronze.orders",
    "silver/secret_people.sql": "select * from bronze.people",
    "gold/x.sql": (
        "select o.order_id, o.note, s.social_security as sec from silver.orders o "
        "join silver.secret_people s on s.name = o.customer"
    ),
}
FILES = {
    "data/orders.csv": 'order_id,customer,note\n1,alice,"=HYPERLINK(""http://evil.example/"",""x"")"\n',
    "data/people.csv": "name,social_security\nalice,123-45-6789\n",
}


def _project(tmp_path: Path) -> Project:
    project = Project.load(write_project(tmp_path / "leaky", CONFIG, MODELS, FILES))
    assert project.run().ok
    project.add_user("val", "viewer", ["analysts"], PASSWORD)
    project.add_user("ada", "admin", [], PASSWORD)
    return project


def test_hidden_inputs_and_names_stay_hidden(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        page = client.get("/ui/lineage?node=gold.x", headers=basic("val"))
        assert page.status_code == 200
        assert "secret_people" not in page.text and "social_security" not in page.text
        assert "not yours to read" in page.text
        # the admin sees the column lineage through both inputs
        assert "social_security" in client.get("/ui/lineage?node=gold.x", headers=basic("ada")).text
        # a misspelt or ambiguous name: no suggestion naming a hidden table
        for node in ("secret_peopl", "people"):
            r = client.get(f"/api/v1/lineage?node={node}", headers=basic("val"))
            assert r.status_code in (403, 404) and "secret_people" not in r.text, r.text
            assert "bronze.people" not in r.text


def test_a_bare_secret_in_the_authorization_header_is_not_audited(tmp_path: Path) -> None:
    project = _project(tmp_path)
    secret = "mdl_" + "Zq9" * 12
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        r = client.get("/api/v1/tables", headers={"Authorization": secret})
        assert r.status_code == 401 and secret[:8] not in r.text
    rows = audit_rows(project)
    assert rows and all(secret[:8] not in str(row) for row in rows)


def test_xlsx_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    project = _project(tmp_path)
    with TestClient(create_app(project), base_url="http://127.0.0.1:8080") as client:
        r = client.get("/api/v1/tables/silver/orders/rows?format=xlsx", headers=basic("ada"))
        assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("note") + 1)
    assert cell.data_type == "s"
    assert cell.value == '=HYPERLINK("http://evil.example/","x")'
