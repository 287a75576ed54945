"""Landing folders on an object store: a source's `path:` as a URL with a glob
(`abfss://landing@acct.dfs.core.windows.net/retail/orders*.csv`, `s3://drops/events/**/*.json`).

Listing is one paged LIST of the pattern's fixed prefix (the part before its first glob
character), matched against the glob here. A file's identity is the same as a local file's:
(its URL, size, fingerprint of the first and last MiB); the fingerprint is read with two ranged
GETs, and remembered by (URL, size, ETag, last-modified) for the life of the process, so a
`run --watch` poll reads each unchanged object once. Two machines compute the same identity for
the same object, which is what lets a second project folder continue from the Delta log.

The new files of a run are then downloaded to a local spool folder (deleted when the read ends)
and read by the same DuckDB readers as local files: the CSV reader's rescue of bad rows, header
checks and sniffing need a seekable local file, which pyarrow's object-store streams are not.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import SourceError, StorageError

if TYPE_CHECKING:
    from medallion.config.schema import FileSource
    from medallion.ingest.files.discover import SourceFile
    from medallion.storage.location import Location

FINGERPRINT_BYTES = 1 << 20
#: fingerprints by (URL, size, ETag, last-modified): objects are immutable once written, and
#: a rewrite changes the ETag
_fingerprints: dict[tuple[str, int, str, str], str] = {}
_GLOB_CHARS = re.compile(r"[*?\[]")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A key glob as a regex: `*` and `?` within one path segment, `**/` any number of
    segments, `[...]` a character class."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def discover_remote(pattern: str, source: FileSource, name: str) -> list[SourceFile]:
    """The objects matching `pattern` (a store URL with a glob), with their identities."""
    import obstore

    from medallion.ingest.files.discover import SourceFile
    from medallion.storage.location import locate

    where = locate(pattern, Path("."), source.storage_options, key=f"sources.{name}.path")
    assert not isinstance(where, Path)
    key = where.key
    match = _GLOB_CHARS.search(key)
    # the folder the glob (or the one object named) is in: a store lists the keys under a
    # prefix as a folder, so an object's own key as the prefix lists nothing
    cut = len(key) if match is None else match.start()
    prefix = key[: key.rfind("/", 0, cut) + 1]
    regex = glob_regex(key)
    store = _store(where, name)
    found: list[SourceFile] = []
    try:
        for page in obstore.list(store, prefix.rstrip("/") or None, chunk_size=1000):
            for meta in page:
                path = meta["path"]
                if not regex.match(path) or path.endswith("/"):
                    continue
                url = f"{where.store.url}/{path}"
                size = int(meta["size"])
                cache = (url, size, str(meta.get("e_tag")), str(meta.get("last_modified")))
                fp = _fingerprints.get(cache)
                if fp is None:
                    fp = _fingerprints[cache] = _fingerprint(store, path, size)
                found.append(SourceFile(Path(path), url, size, fp, location=where))
    except (SourceError, StorageError):
        raise
    except Exception as e:
        raise _source_error(e, where, name) from None
    if not found:
        raise SourceError(
            f"no file matches {pattern!r}",
            source=name,
            key=f"sources.{name}.path",
            hint="check the URL and the glob (a glob matches keys under the store's folder; "
            "`**/` any number of folders)",
        )
    return sorted(found, key=lambda f: f.rel)


def _store(where: Location, name: str) -> Any:
    try:
        return where.store.object_store
    except StorageError as e:
        raise SourceError(e.message, source=name, hint=e.hint) from None


def _fingerprint(store: Any, path: str, size: int) -> str:
    """The local fingerprint's hash (`discover.fingerprint`) from two ranged reads."""
    import obstore

    digest = hashlib.blake2b(digest_size=12)
    head = min(size, FINGERPRINT_BYTES)
    if head:
        digest.update(bytes(obstore.get_range(store, path, start=0, end=head)))
    if size > FINGERPRINT_BYTES:
        start = max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES)
        digest.update(bytes(obstore.get_range(store, path, start=start, end=size)))
    digest.update(str(size).encode())
    return digest.hexdigest()


def _source_error(error: BaseException, where: Location, name: str) -> SourceError:
    from medallion.storage.location import store_error

    e = store_error(error, where, f"the landing folder of source {name}")
    err = SourceError(e.message, source=name, key=f"sources.{name}.path", hint=e.hint)
    err.transient = e.transient
    return err


def spool(files: list[SourceFile], name: str) -> tuple[list[SourceFile], Path | None]:
    """`files` with each one on an object store downloaded to a local spool folder (returned,
    for the caller to delete when the read ends); local files as they are."""
    import obstore

    remote = [f for f in files if f.location is not None]
    if not remote:
        return files, None
    _sweep_spools()
    folder = Path(tempfile.mkdtemp(prefix=f"medallion-spool-{os.getpid()}-"))
    _spools.add(folder)
    out = []
    for i, f in enumerate(files):
        if f.location is None:
            out.append(f)
            continue
        target = folder / f"{i:06d}-{os.path.basename(str(f.path))}"
        store = _store(f.location, name)
        try:
            result = obstore.get(store, str(f.path))
            with open(target, "wb") as fh:
                for chunk in result.stream(min_chunk_size=8 << 20):
                    fh.write(chunk)
        except Exception as e:
            remove_spool(folder)
            raise _source_error(e, f.location, name) from None
        # the copy must be the content that was fingerprinted: a producer that rewrote the
        # object since would have it ingested under the old identity (and again next run)
        from medallion.ingest.files.discover import fingerprint

        if target.stat().st_size != f.size or fingerprint(target) != f.fingerprint:
            remove_spool(folder)
            raise SourceError(
                f"{f.rel} changed while it was being read (it was rewritten on the store)",
                source=name,
                hint="run again: the file is ingested as it is then",
            )
        out.append(replace(f, path=target))
    return out, folder


_spools: set[Path] = set()


def _sweep_spools() -> None:
    """Delete the spool folders of processes that no longer run (killed before they could)."""
    for folder in Path(tempfile.gettempdir()).glob("medallion-spool-*-*"):
        pid = folder.name.split("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (PermissionError, OverflowError):
            pass


def remove_spool(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        _spools.discard(folder)


@atexit.register
def _remove_spools() -> None:
    for folder in list(_spools):
        with contextlib.suppress(Exception):
            remove_spool(folder)


def as_remote(error: SourceError, files: list[SourceFile]) -> SourceError:
    """`error` naming a spooled file by its URL, not by its local copy's path."""
    for f in files:
        if f.location is None:
            continue
        local = str(f.path)
        if error.file == local:
            error.file = f.rel
        if local in error.message:
            error.message = error.message.replace(local, f.rel)
            error.args = (error.message,)
    return error
