"""`init --from` on a column that is numbers, or dates of one format, but for a few dirty values:
the column stays text (silver must not lose those rows), and init names the values that kept it
so, for the user to clean or to handle in the staging model."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import medallion

VENTES = (
    "vente_id;montant;date_vente;qte;note\n"
    "V1;12,50;01/03/2024;1;ok\n"
    "V2;N/A;02/03/2024;2;ok\n"
    "V3;1 234,50;2024-03-15;3;late\n"
    "V4;7,25;25/03/2024;N/A;ok\n"
    "V5;3,10;26/03/2024;4;ok\n"
    "V6;4,00;27/03/2024;5;ok\n"
)


def test_the_values_that_kept_a_column_text_are_named(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "ventes.csv").write_text(VENTES)
    said = medallion("init", "p", "--from", "exports", cwd=tmp_path, check=True).stdout
    said = " ".join(said.split())
    assert "montant: VARCHAR (text: 2 of 6 values are not a number: '1 234,50', 'N/A'" in said
    assert "date_vente: VARCHAR (text: 1 of 6 values is not a date %d/%m/%Y: '2024-03-15'" in said
    assert "qte: VARCHAR (text: 1 of 6 values is not a number: 'N/A'" in said
    assert "note: VARCHAR (text," in said  # plain text: nothing to name
    run = medallion("run", cwd=tmp_path / "p", check=True)
    assert "0 failed" in run.stdout
