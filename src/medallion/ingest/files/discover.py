"""Finding a file source's files, and what makes a file the same file.

File identity is (path relative to the project, size, a fingerprint of the first and last MiB of
content): a file whose content changes is a new file, while copying, moving or `touch`ing a
project (which changes modification times) re-ingests nothing. The fingerprint reads at most 2 MiB
per file, whatever its size; a rewrite that changes only the middle of a file and keeps its size
exactly is the one change it does not see (then use `medallion run --full-refresh SOURCE`).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.errors import SourceError

if TYPE_CHECKING:
    from medallion.config.schema import FileSource


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    #: as recorded: relative to the project root (`../x` outside it) unless the source's
    #: pattern is an absolute path
    rel: str
    size: int
    fingerprint: str

    @property
    def identity(self) -> tuple[str, int, str]:
        return (self.rel, self.size, self.fingerprint)


def discover(root: Path, source: FileSource, name: str) -> list[SourceFile]:
    """Files matching the source's patterns, sorted by path, each once."""
    found: dict[Path, SourceFile] = {}
    real_root = root.resolve()
    for pattern in source.paths:
        full = pattern if os.path.isabs(pattern) else str(root / pattern)
        matches = sorted(glob.glob(full, recursive=True))
        files = [Path(m) for m in matches if os.path.isfile(m)]
        if not files:
            raise SourceError(
                f"no file matches {pattern!r}",
                source=name,
                key=f"sources.{name}.path",
                hint="paths are relative to the project folder; check the name and the glob "
                "(`medallion generate` writes the template's data files)",
            )
        for f in files:
            st = f.stat()
            resolved = f.resolve()
            try:
                rel = resolved.relative_to(real_root).as_posix()
            except ValueError:
                # outside the project: a relative pattern (`../exports/*.csv`, as `init --from`
                # writes) stays relative, so a project copied with its exports beside it
                # re-ingests nothing; an absolute pattern names the file absolutely
                rel = (
                    resolved.as_posix()
                    if os.path.isabs(pattern)
                    else Path(os.path.relpath(resolved, real_root)).as_posix()
                )
            if resolved not in found:
                found[resolved] = SourceFile(
                    resolved, rel, st.st_size, _fingerprint_of(resolved, st)
                )
    return sorted(found.values(), key=lambda f: f.rel)


FINGERPRINT_BYTES = 1 << 20
#: fingerprints computed by this process, by (path, size, mtime, ctime, inode): a long-lived
#: process (`run --watch` polling a folder) reads each unchanged file once, not on every poll.
#: The ctime changes on every write and no tool sets it back, as one may the mtime (`touch -r`,
#: a copy keeping times): a file rewritten to the same size keeps no stale fingerprint
_fingerprints: dict[tuple[Path, int, int, int, int], str] = {}


def _fingerprint_of(path: Path, st: os.stat_result) -> str:
    key = (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    value = _fingerprints.get(key)
    if value is None:
        if len(_fingerprints) > 100_000:
            _fingerprints.clear()
        value = _fingerprints[key] = fingerprint(path)
    return value


def fingerprint(path: Path) -> str:
    """A hash of a file's first and last MiB (and its size): cheap whatever the file size."""
    import hashlib

    digest = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as fh:
        digest.update(fh.read(FINGERPRINT_BYTES))
        size = fh.seek(0, 2)
        if size > FINGERPRINT_BYTES:
            fh.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
            digest.update(fh.read(FINGERPRINT_BYTES))
    digest.update(str(size).encode())
    return digest.hexdigest()
