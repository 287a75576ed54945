"""The project a running server answers from: the one its files describe now.

`medallion serve` runs for days while people edit medallion.yml: a grant revoked, a mask added,
a model added. Every login, query and request asks `LiveProject.current()` first, which loads
the project again when medallion.yml changed (looked at every time: the `access:` policy a
request is checked against is the one in the file at that moment) or when checks or a model
file changed (the scheduler's and the watcher's change test, at most every MODELS_EVERY
seconds: it lists the models folder, 4 ms for 300 files, too much to pay per statement).

An edit that does not load (broken YAML, a misspelt key) fails closed: until the file loads
again every login, query and request is refused with the error (file and line), rather than
going on with the previous policy (which may be the very grant the edit revoked).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from medallion.errors import MedallionError, ProjectUnavailableError
from medallion.orchestrate.watch import code_stamp
from medallion.project import PROJECT_FILE

if TYPE_CHECKING:
    from medallion.project import Project

log = logging.getLogger("medallion.serve")

#: seconds between two looks at the model and check files (a new model's table is known
#: within this); medallion.yml itself is looked at before every request
MODELS_EVERY = 1.0


class LiveProject:
    """A `Project` kept in step with its files (thread-safe: the SQL endpoint's sessions and
    the HTTP API's workers share one)."""

    def __init__(self, project: Project) -> None:
        self._project = project
        self._stamp = self._stamp_now()
        self._file = self._file_now()
        self._next_look = time.monotonic() + MODELS_EVERY
        self._broken: MedallionError | None = None
        self._lock = threading.Lock()
        #: how many times the project was loaded again (what a session's catalog is of)
        self.generation = 0

    def _stamp_now(self) -> tuple[int, int]:
        return code_stamp(self._project.root, self._project.config.models)

    def _file_now(self) -> tuple[int, int, int] | None:
        """medallion.yml's modification time, size and inode (an editor that saves by rename
        makes a new one): any change is an edit, even one that puts back an older time."""
        try:
            st = (self._project.root / PROJECT_FILE).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _edited(self) -> bool:
        file = self._file_now()
        now = time.monotonic()
        if file == self._file and now < self._next_look:
            return False
        self._next_look = now + MODELS_EVERY
        stamp = self._stamp_now()
        edited = file != self._file or stamp != self._stamp
        self._file, self._stamp = file, stamp
        return edited

    def current(self) -> Project:
        """The project as its files are now; ProjectUnavailableError while they do not load."""
        with self._lock:
            if self._edited():
                try:
                    self._project = self._project.reload()
                    self.generation += 1
                except Exception as e:  # anything that stops it loading: fail closed
                    self._broken = e if isinstance(e, MedallionError) else _not_loaded(e, self)
                    log.error("the project no longer loads; every request is refused: %s", e)
                else:
                    if self._broken is not None:
                        log.warning("the project loads again: requests are served")
                    else:
                        log.warning("medallion.yml or a model changed: project loaded again")
                    self._broken = None
            if self._broken is not None:
                raise _unavailable(self._broken)
            return self._project

    def flush(self) -> None:
        """Write the access audit's buffered events (a server stopping): reloads pass one
        audit log on, so the current project's holds every event."""
        self._project.audit_log.flush()


def _not_loaded(error: Exception, live: LiveProject) -> MedallionError:
    from medallion.errors import ConfigError, first_line

    return ConfigError(
        f"could not be loaded: {first_line(error)}", file=live._project.root / PROJECT_FILE
    )


def _unavailable(cause: MedallionError) -> ProjectUnavailableError:
    where = f"{cause.location}: " if cause.location else ""
    return ProjectUnavailableError(
        f"the project's files no longer load, so this server refuses every request until "
        f"they do: {where}{cause.message}",
        hint="fix the file (`medallion validate` says what is wrong); the next request loads "
        "it again, no restart needed",
    )
