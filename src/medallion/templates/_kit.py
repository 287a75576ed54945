"""The machinery the templates' data generators share: seeded random streams and weighted draws,
value formatting, writing a set of files atomically, finding the files a daily drop builds on,
and the command line.

What rows a template writes stays in the template; what is here is how a generator seeds its
random streams, spells its dirt and writes and publishes its files. Modules of this package
import only the standard library here (third-party packages inside the functions that need them),
so the kit stays as cheap to import as the templates that use it.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------
# Random streams and weighted draws
# ---------------------------------------------------------------------------------------------


def sub_rng(seed: int, name: str, namespace: str = "") -> random.Random:
    """The random stream `name` of a generator run with `seed` (`namespace`, when given, keeps
    two templates' streams of the same name apart).

    One stream per file or purpose, so changing the rules of one does not reshuffle the others.
    A str seed is hashed with SHA-512 by random.seed(): stable across processes (unlike
    hash())."""
    return random.Random(f"{namespace}:{seed}:{name}" if namespace else f"{seed}:{name}")


def cumulative(weights: Iterable[float]) -> list[float]:
    """Running totals of `weights`, for `weighted_index` (and random.choices' cum_weights)."""
    return list(itertools.accumulate(weights))


def weighted_index(cum: Sequence[float], u: float) -> int:
    """The index a uniform draw `u` in [0, 1) picks from cumulative weights `cum`."""
    return min(bisect.bisect_right(cum, u * cum[-1]), len(cum) - 1)


def expand(weights: dict[Any, int]) -> list[Any]:
    """{value: integer weight} as a flat table (each value `weight` times, in order), so that a
    weighted draw is a single index."""
    return [value for value, weight in weights.items() for _ in range(weight)]


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def money(cents: int) -> str:
    """Integer cents as '12.34' / '-3.00' (exact: no floats)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def clock(seconds: int) -> str:
    """Seconds since midnight as 'HH:MM:SS'."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


# ---------------------------------------------------------------------------------------------
# Files: written under temporary names, published together
# ---------------------------------------------------------------------------------------------


@contextmanager
def publishing(data_dir: Path, names: Iterable[str]) -> Iterator[dict[str, Path]]:
    """{name: temporary path} for the files `data_dir / name` (a name may hold a sub-folder).

    Write each file at its temporary path (hidden, and tagged with the process id, so globbing
    readers and concurrent runs ignore it); when the block ends without an error every file is
    moved into place with os.replace, so readers never see half a file and a failure leaves the
    previous set intact. Temporary files left behind are removed either way."""
    final = {name: data_dir / name for name in names}
    tmp = {name: path.parent / f".{path.name}.{os.getpid()}.tmp" for name, path in final.items()}
    try:
        yield tmp
        for name, path in tmp.items():
            os.replace(path, final[name])
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Daily drops: `<stem>_day<N>.<ext>` next to the initial `<stem>.<ext>`
# ---------------------------------------------------------------------------------------------


def drop_name(name: str, day: int) -> str:
    """'orders.json', 3 -> 'orders_day3.json'."""
    stem, ext = name.split(".", 1)
    return f"{stem}_day{day}.{ext}"


def existing_files(data_dir: Path, name: str, day: int) -> list[Path]:
    """The files the source glob `<stem>*.<ext>` picks up, in load order: the initial file,
    other matching files by name, then the drops of the days before `day` by day number. Drops
    of `day` itself and later are ignored: a drop is written from what existed before it, so
    writing it again gives the same bytes."""
    stem, ext = name.split(".", 1)
    drop = re.compile(rf"{re.escape(stem)}_day(\d+)\.{re.escape(ext)}")
    keyed: list[tuple[tuple[int, int, str], Path]] = []
    for path in data_dir.glob(f"{stem}*.{ext}"):
        match = drop.fullmatch(path.name)
        if path.name == name:
            keyed.append(((0, 0, ""), path))
        elif match is None:
            keyed.append(((1, 0, path.name), path))
        elif int(match.group(1)) < day:
            keyed.append(((2, int(match.group(1)), path.name), path))
    return [path for _, path in sorted(keyed)]


def check_drop(day: int, rows: int | None) -> None:
    """ValueError unless `day` is a later day (>= 2) and `rows`, when given, is >= 1."""
    if day < 2:
        raise ValueError(f"day must be >= 2 (day 1 is the initial export), got {day}")
    if rows is not None and rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")


def require_files(data_dir: Path, files: Iterable[str]) -> None:
    """ValueError unless `data_dir` holds the initial `files` a drop builds on."""
    if not data_dir.is_dir():
        raise ValueError(
            f"no data folder {data_dir}: write the initial files with generate() first"
        )
    missing = [name for name in files if not (data_dir / name).is_file()]
    if missing:
        raise ValueError(
            f"{data_dir} lacks the initial file(s) {', '.join(missing)}: "
            "write them with generate() first"
        )


# ---------------------------------------------------------------------------------------------
# Command line (`python -m medallion.templates.<name>.generate`)
# ---------------------------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None,
    *,
    description: str,
    rows_help: str,
    default_rows: int,
    generate: Callable[..., dict[str, int]],
    generate_increment: Callable[..., dict[str, int]],
    default_out: Path = Path("data"),
    summary: bool = False,
) -> int:
    """A generator's command line: the initial files (`--rows`, `--seed`, `--out`), or with
    `--day N` the day-N drop next to them; a ValueError of the generator is a usage error.
    Prints the files written (rows, size), or with `summary` (for many files) one line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=None, help=rows_help)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=default_out, help="output folder")
    parser.add_argument(
        "--day",
        type=int,
        default=None,
        metavar="N",
        help="write the day-N file drop (N >= 2) next to the existing files in --out",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.day is not None:
            counts = generate_increment(args.out, day=args.day, rows=args.rows, seed=args.seed)
        else:
            rows = args.rows if args.rows is not None else default_rows
            counts = generate(args.out, rows=rows, seed=args.seed)
    except ValueError as e:
        parser.error(str(e))
    elapsed = time.perf_counter() - started
    if summary:
        folder = args.out / os.path.commonpath(counts) if counts else args.out
        print(f"{len(counts)} files, {sum(counts.values()):,} rows in {folder}")
    else:
        width = max([28, *map(len, counts)])
        for name, count in counts.items():
            size = (args.out / name).stat().st_size
            print(f"{name:<{width}} {count:>12,} rows {size / 1e6:>10.2f} MB")
    print(f"written to {args.out} in {elapsed:.2f} s", file=sys.stderr)
    return 0
