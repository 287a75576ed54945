"""Object storage benchmark: the retail pipeline with its lakehouse and landing folder on an
emulated store (Azurite for az://, moto's server for s3://) against the same pipeline on local
disk, in one session, and where the extra time goes.

What is measured
----------------
- **whole runs**: `medallion run` (the CLI, a fresh child process) on a fresh project and empty
  lakehouse, its five CSV files in `data/` (local) or uploaded once to the store's landing folder
  (`az://.../landing/*.csv`, `s3://.../landing/*.csv`), the lakehouse in `./lakehouse` or on the
  store. Runs are interleaved (local, azurite, s3, local, ...) so a drift in machine load hits all;
  figures are medians of `--repeat` runs; the ratio is store / local.
- **where the time goes**, measured in this process on the lakehouse the last run left:
  - *listing*: one paged LIST of the landing folder per source (obstore), matched to the glob;
  - *ranged reads*: the fingerprint of every landing file (first and last MiB, two GETs);
  - *download*: the spool copy of the landing files the reader reads;
  - *commit*: one Delta commit that changes no row (`tables.record_only`) on every table, the
    fixed cost each step's commit pays (open the log, write the commit with put-if-absent);
  - *open + scan*: opening every table's log and reading every table whole through the engine's
    read path (pyarrow filesystem -> Arrow dataset -> DuckDB).

The emulators run on this machine, in memory, on 127.0.0.1: no network latency and no
bandwidth limit, so the ratio is the cost of the object-store code path (HTTP requests,
signing, copies), a floor under what a real store adds.

    python benchmarks/objectstore.py [--rows 1000000] [--repeat 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _common import (
    MEDALLION,
    command_line,
    machine,
    markdown_table,
    measure,
    publish,
    scale_label,
)

SECTION = "Object storage (retail on an emulated store)"
SECRET_VAR = "BENCH_STORE_SECRET"


def project(dest: Path, data: Path, server, bucket: str | None) -> dict[str, str]:
    """A fresh retail project in `dest` whose data/ is `data` (hard links); with a server, its
    lakehouse and landing folder on `bucket` there. Returns the environment to run it with."""
    import subprocess

    subprocess.run(
        [str(MEDALLION), "init", str(dest), "-t", "retail", "--no-data"],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(dest / "data", ignore_errors=True)
    shutil.copytree(data, dest / "data", copy_function=os.link)
    env = dict(os.environ)
    if server is None:
        return env
    opts = server.storage_options()
    secret = opts.get("account_key") or opts["secret_access_key"]
    lines = "\n".join(
        f"  {k}: {'${' + SECRET_VAR + '}' if v == secret else v}" for k, v in opts.items()
    )
    config = dest / "medallion.yml"
    text = config.read_text(encoding="utf-8")
    url = f"{server.scheme}://{bucket}"
    text = re.sub(
        r"^storage:.*$", f"storage: {url}/lake\nstorage_options:\n{lines}", text, flags=re.M
    )
    text = re.sub(r"(\bpath: )data/", rf"\g<1>{url}/landing/", text)
    config.write_text(text, encoding="utf-8")
    env[SECRET_VAR] = secret
    return env


def upload(server, bucket: str, data: Path) -> float:
    import pyarrow.fs as pafs

    fs = server.arrow_fs()
    started = time.perf_counter()
    for path in sorted(data.iterdir()):
        pafs.copy_files(str(path), f"{bucket}/landing/{path.name}", destination_filesystem=fs)
    return time.perf_counter() - started


def split(root: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds of listing, ranged reads, download, commits and open + scan (see the module's
    docstring), on the project at `root`."""
    import obstore

    from medallion.config.schema import FileSource
    from medallion.ingest.files.remote import _fingerprint, _store, glob_regex
    from medallion.project import Project
    from medallion.storage import snapshot, tables
    from medallion.storage.location import Location, locate

    os.environ.update({k: v for k, v in env.items() if k == SECRET_VAR})
    p = Project.load(root)
    out = dict.fromkeys(("listing", "ranged reads", "download", "commit", "open + scan"), 0.0)
    for name, source in p.config.sources.items():
        if not isinstance(source, FileSource):
            continue
        for pattern in source.paths:
            where = locate(pattern, root, source.storage_options, key=name)
            if not isinstance(where, Location):
                continue
            store = _store(where, name)
            key = where.key
            prefix = key[: key.rfind("/") + 1]
            t = time.perf_counter()
            found = [
                m
                for page in obstore.list(store, prefix.rstrip("/"))
                for m in page
                if glob_regex(key).match(m["path"])
            ]
            out["listing"] += time.perf_counter() - t
            t = time.perf_counter()
            for m in found:
                _fingerprint(store, m["path"], int(m["size"]))
            out["ranged reads"] += time.perf_counter() - t
            t = time.perf_counter()
            for m in found:
                with tempfile.TemporaryFile() as fh:
                    for chunk in obstore.get(store, m["path"]).stream(min_chunk_size=8 << 20):
                        fh.write(chunk)
            out["download"] += time.perf_counter() - t
    for fqn in p.catalog.tables():
        path = p.catalog.path(fqn)
        t = time.perf_counter()
        tables.record_only(path, "bench", {"bench": True})
        out["commit"] += time.perf_counter() - t
        t = time.perf_counter()
        snap = snapshot.snapshot(path)
        for part in snap.parts:
            part.to_table()
        out["open + scan"] += time.perf_counter() - t
    out["tables"] = len(p.catalog.tables())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from medallion.devservers.azurite import AzuriteServer
    from medallion.devservers.s3server import S3Server
    from medallion.templates.retail.generate import generate

    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        counts = generate(data, rows=args.rows, seed=42)
        size_mb = sum(p.stat().st_size for p in data.iterdir()) / 1e6
        with AzuriteServer(tmp / "azurite") as az, S3Server(tmp / "s3") as s3:
            stores = {"local disk": None, "Azurite (az://)": az, "moto S3 (s3://)": s3}
            walls: dict[str, list[float]] = {k: [] for k in stores}
            uploads: dict[str, float] = {}
            last: dict[str, tuple[Path, dict[str, str]]] = {}
            for i in range(args.repeat):
                for label, server in stores.items():
                    bucket = None
                    if server is not None:
                        bucket = f"bench{i}"
                        server.create_bucket(bucket)
                        uploads[label] = upload(server, bucket, data)
                    root = tmp / f"p-{i}-{len(walls[label])}-{label.split()[0]}"
                    env = project(root, data, server, bucket)
                    sample = measure([MEDALLION, "run"], cwd=root, env=env)
                    walls[label].append(sample.wall_s)
                    loads.append(os.getloadavg()[0])
                    print(f"{label} run {i + 1}: {sample.wall_s:.2f} s", flush=True)
                    last[label] = (root, env)
            splits = {label: split(*last[label]) for label in stores if stores[label] is not None}

    local = statistics.median(walls["local disk"])
    rows = []
    for label, values in walls.items():
        med = statistics.median(values)
        rows.append(
            [
                label,
                f"{med:.2f}",
                ", ".join(f"{v:.2f}" for v in values),
                f"{med / local:.2f}×",
            ]
        )
    table = markdown_table(
        ["lakehouse and landing", "wall s (median)", "runs (s)", "ratio"], rows, "lrlr"
    )
    parts = ["listing", "ranged reads", "download", "commit", "open + scan"]
    split_rows = [
        [label, *(f"{s[k]:.2f}" for k in parts), f"{uploads[label]:.2f}"]
        for label, s in splits.items()
    ]
    split_table = markdown_table(
        ["store", *(f"{k} s" for k in parts), "upload (set-up) s"], split_rows, "lrrrrrr"
    )
    n_tables = next(iter(splits.values()))["tables"] if splits else 0
    text = f"""Run on {date.today().isoformat()} with:

    {command_line()}

Machine: {machine()}. The machine was shared with other work (other engineers' test suites,
Spark among them) while it ran: the 1-minute load average was {min(loads):.1f} to
{max(loads):.1f} on its 2 cores, so single runs vary widely; compare the rows of one table with
each other (medians, same session), not with other sections.

Input: the retail template's five CSV files at {scale_label(args.rows)} order lines
({", ".join(f"{k} {v:,}" for k, v in counts.items())}; {size_mb:.0f} MB), generated once, the same
files for every run. Each run is `medallion run` in a fresh child process on a fresh project and
an empty lakehouse; on a store, both the lakehouse (`storage:`) and the landing folder (the
sources' `path:`) are there, in a fresh bucket. Emulators: Azurite 3.37 (in memory) and moto's
server, on 127.0.0.1 — no network latency or bandwidth limit, so the ratio is the cost of the
object-store code path, a floor under a real store's.

{table}

Where the time goes on the store (seconds, measured in one process after the last run, over
the {n_tables} tables and five landing files): *listing* is one LIST per source; *ranged reads*
the fingerprints (first and last MiB of each file); *download* the spool copy the CSV reader
reads; *commit* one no-change Delta commit per table (the fixed cost of each step's commit);
*open + scan* opening each table's log and reading it whole through the engine's read path
(pyarrow filesystem -> Arrow dataset).

{split_table}
"""
    publish(text, SECTION, args.write_docs)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
