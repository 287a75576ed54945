"""The machinery the templates' data generators share: seeded random streams and weighted draws,
value formatting, Faker pools, the dirt of hand-typed sources (messy spellings, invalid e-mail
addresses), chunked CSV files published together, the files a daily drop builds on, and the
command line.

What rows a template writes, and at which rates its dirt comes, stays in the template. The kit
changes no draw: a generator calling it consumes its random streams exactly as its own code
did. It imports the standard library only (Faker and pyarrow inside the functions using them).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import importlib
import itertools
import os
import random
import re
import string
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from faker import Faker

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


#: what a shop's price change multiplies the old price by (see `new_shop_price`)
PRICE_FACTORS = (0.8, 0.9, 1.1, 1.25)


def new_shop_price(cents: int, rng: random.Random) -> int:
    """A new shop price for `cents`: 10-25 % up or down, rounded down to whole units and ending
    in .99 (one rng.choice draw)."""
    return max(99, round(cents * rng.choice(PRICE_FACTORS)) // 100 * 100 + 99)


# ---------------------------------------------------------------------------------------------
# Faker pools and places
# ---------------------------------------------------------------------------------------------


def faker(seed: int, locale: str = "en_US") -> Faker:
    """A Faker seeded with `seed`. Generators only build small value pools with it, once: rows
    are drawn from the pools with their random streams (Faker is slow, and its values change
    between its versions)."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def us_cities(fake: Faker, n: int) -> list[tuple[str, str]]:
    """`n` (city, USPS state code) pairs of the United States, duplicates kept (frequent names
    stay frequent)."""
    return [
        (
            fake.city(),
            fake.state_abbr(include_territories=False, include_freely_associated_states=False),
        )
        for _ in range(n)
    ]


def other_city(
    rng: random.Random,
    country: str,
    old_city: str,
    *,
    us: Sequence[tuple[str, str]],
    ca_cities: Sequence[str],
    ca_provinces: Sequence[str],
    gb: Sequence[tuple[str, str]],
) -> tuple[str, str]:
    """A customer who moved: a (city, state) in `country` (CA, GB, anything else the US pool)
    that is not `old_city` (compared trimmed and case-insensitively). Every pool must hold two
    distinct cities at least."""
    old = old_city.strip().lower()
    while True:
        if country == "CA":
            city, state = rng.choice(ca_cities), rng.choice(ca_provinces)
        elif country == "GB":
            city, state = rng.choice(gb)
        else:
            city, state = rng.choice(us)
        if city.lower() != old:
            return city, state


# ---------------------------------------------------------------------------------------------
# Dirt of hand-typed and legacy sources
# ---------------------------------------------------------------------------------------------

_CASES: dict[str, Callable[[str], str]] = {
    "value": str,
    "upper": str.upper,
    "lower": str.lower,
    "capitalized": str.capitalize,
    "capitalized_parts": lambda v: ".".join(part.capitalize() for part in v.split(".")),
}


class Spellings:
    """The spellings a hand-typed or legacy source gives a value: other case, stray spaces.

    Each pattern holds one field between literal text: {value}, {upper}, {lower},
    {capitalized} or {capitalized_parts} (each dot-separated part capitalised:
    electronics.smartphone -> Electronics.Smartphone), e.g. `Spellings("{upper}", " {value}")`.
    """

    def __init__(self, *patterns: str) -> None:
        self._parts: list[tuple[str, str, str]] = []  # (text before, case, text after)
        for pattern in patterns:
            parsed = list(string.Formatter().parse(pattern))
            fields = [field for _, field, _, _ in parsed if field is not None]
            if len(fields) != 1 or fields[0] not in _CASES:
                raise ValueError(f"a spelling needs one of {', '.join(_CASES)}: {pattern!r}")
            after = "".join(text for text, _, _, _ in parsed[1:])
            self._parts.append((parsed[0][0], fields[0], after))

    def __len__(self) -> int:
        return len(self._parts)

    def spell(self, value: str, i: int) -> str:
        """`value` in the i-th spelling."""
        before, case, after = self._parts[i]
        return before + _CASES[case](value) + after

    def all(self, value: str) -> tuple[str, ...]:
        """Every spelling of `value`, in pattern order."""
        return tuple(self.spell(value, i) for i in range(len(self._parts)))

    def pick(self, value: str, rng: random.Random) -> str:
        """One of the spellings of `value` (one rng.randrange draw)."""
        return self.spell(value, rng.randrange(len(self._parts)))

    def maybe(self, value: str, rng: random.Random, p: float) -> str:
        """With probability `p` (one rng.random draw) one of the spellings, else `value`."""
        return self.pick(value, rng) if rng.random() < p else value

    def arrays(self, values: pa.Array, kind: pa.Array) -> pa.Array:
        """Vectorised: each value in spelling `kind` (an integer array, 0 <= kind < len).
        Arrow capitalises a whole string, so {capitalized_parts} has no vectorised form."""
        import pyarrow.compute as pc

        cases = {
            "value": lambda a: a,
            "upper": pc.utf8_upper,
            "lower": pc.utf8_lower,
            "capitalized": pc.utf8_capitalize,
        }
        spelled = []
        for before, case, after in self._parts:
            if case not in cases:
                raise ValueError(f"{{{case}}} has no vectorised form")
            text = cases[case](values)
            if before or after:
                parts = [*([before] if before else []), text, *([after] if after else [])]
                text = pc.binary_join_element_wise(*parts, "")
            spelled.append(text)
        if len(spelled) == 1:
            return spelled[0]
        conditions = pc.make_struct(*[pc.equal(kind, i) for i in range(len(spelled) - 1)])
        return pc.case_when(conditions, *spelled)


#: how a name field (first name, last name) goes wrong: UPPER, lower, or padded
MESSY_NAME = Spellings("  {upper} ", "{lower}", " {value}  ")


def invalid_email(
    email: str, rng: random.Random, *, local: str | None = None, at: str = "."
) -> str:
    """An address a validation rule rejects (one rng.choice draw): 'n/a', a local part without
    a domain (`local`, by default the address's own: 'jane.doe@'), or the address with its '@'
    replaced by `at`."""
    local = email.split("@")[0] if local is None else local
    return rng.choice(("n/a", f"{local}@", email.replace("@", at)))


# ---------------------------------------------------------------------------------------------
# Files: written in chunks under temporary names, published together
# ---------------------------------------------------------------------------------------------


class CsvWriter:
    """A CSV file (header row, csv-module minimal quoting, UTF-8, '\\n') written in chunks: rows
    are buffered and written with one writerows() call per `chunk` rows, which keeps the csv
    module's C fast path and bounds the memory at any scale.

    The file is opened on `stack`, which writes what is buffered and closes it when it exits;
    `count` is the number of data rows added (duplicates included)."""

    def __init__(
        self, path: Path, header: Sequence[str], stack: ExitStack, chunk: int = 20_000
    ) -> None:
        # the ExitStack closes it (SIM115 does not see through enter_context)
        fh = stack.enter_context(open(path, "w", encoding="utf-8", newline=""))  # noqa: SIM115
        self._writer = csv.writer(fh, lineterminator="\n")
        self._writer.writerow(header)
        self._buf: list[Sequence[Any]] = []
        self._chunk = chunk
        self.count = 0
        stack.callback(self.flush)  # last in, first out: before the file is closed

    def add(self, row: Sequence[Any], dup: bool = False) -> None:
        """Write `row`; with `dup` twice (an exact duplicate line)."""
        self._buf.append(row)
        self.count += 1
        if dup:
            self._buf.append(row)
            self.count += 1
        if len(self._buf) >= self._chunk:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._writer.writerows(self._buf)
            self._buf.clear()


@contextmanager
def publishing(
    data_dir: Path, names: Iterable[str], *, optional: bool = False
) -> Iterator[dict[str, Path]]:
    """{name: temporary path} for the files `data_dir / name` (a name may hold a sub-folder).

    Write each file at its temporary path (hidden, and tagged with the process id, so globbing
    readers and concurrent runs ignore it); when the block ends without an error every file is
    moved into place with os.replace, so readers never see half a file and a failure leaves the
    previous set intact. Temporary files left behind are removed either way. With `optional`,
    a name whose temporary file was not written is skipped (a streaming generator that learns
    only as it goes which of the possible files hold rows)."""
    final = {name: data_dir / name for name in names}
    tmp = {name: path.parent / f".{path.name}.{os.getpid()}.tmp" for name, path in final.items()}
    try:
        yield tmp
        for name, path in tmp.items():
            if optional and not path.exists():
                continue
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


def command(
    package: str,
    *,
    generate: Callable[..., dict[str, int]],
    generate_increment: Callable[..., dict[str, int]],
    drop_rows: str,
    default_out: Path = Path("data"),
    summary: bool = False,
) -> Callable[[Sequence[str] | None], int]:
    """The command line `main(argv)` of the generator of template `package` (its `__init__`
    gives ROWS_UNIT and DEFAULT_ROWS): the initial files (`--rows`, `--seed`, `--out`), or with
    `--day N` the day-N drop next to them (`drop_rows`: its default size, for the help). A
    ValueError of the generator is a usage error. Prints the files written (rows, size), or with
    `summary` (for many files) one line."""
    template = importlib.import_module(package)
    template_name = package.rsplit(".", 1)[-1].replace("_", "-")
    description = f"Generate the input data of the {template_name} template."

    def main(argv: Sequence[str] | None = None) -> int:
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument(
            "--rows",
            type=int,
            default=None,
            help=f"{template.ROWS_UNIT} (default {template.DEFAULT_ROWS}; with --day: {drop_rows})",
        )
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
                rows = args.rows if args.rows is not None else template.DEFAULT_ROWS
                counts = generate(args.out, rows=rows, seed=args.seed)
        except ValueError as e:
            parser.error(str(e))
        elapsed = time.perf_counter() - started
        if summary:
            folder = args.out / os.path.commonpath(counts) if counts else args.out
            print(f"{len(counts)} files, {sum(counts.values()):,} rows in {folder}")
        else:
            width = max([28, *map(len, counts)])
            for file, count in counts.items():
                size = (args.out / file).stat().st_size
                print(f"{file:<{width}} {count:>12,} rows {size / 1e6:>10.2f} MB")
        print(f"written to {args.out} in {elapsed:.2f} s", file=sys.stderr)
        return 0

    return main
