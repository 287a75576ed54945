"""`medallion run` on a source declared latin-1 whose file holds a Windows-1252 byte (0x80, the
euro sign): the step fails naming the file, and the hint gives the `iconv` line that converts it,
as `init --from` does, instead of "check the file format options"."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import medallion


def test_a_windows_1252_byte_in_a_latin_1_source_gets_the_iconv_line(tmp_path: Path) -> None:
    (tmp_path / "medallion.yml").write_text(
        "name: p\nsources:\n  c:\n    path: data/c.csv\n    encoding: latin-1\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "c.csv").write_bytes(b"id,name\n1,caf\xe9\n2,\x80uro\n")
    proc = medallion("run", cwd=tmp_path)
    assert proc.returncode == 1
    said = " ".join((proc.stdout + proc.stderr).split())
    assert "cannot read data/c.csv" in said
    assert "Windows-1252" in said
    assert "iconv -f cp1252 -t utf-8 data/c.csv" in said
    assert "check the file format options" not in said
    assert not (tmp_path / "lakehouse" / "bronze" / "c" / "_delta_log").exists()
