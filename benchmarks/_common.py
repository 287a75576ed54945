"""Helpers shared by the benchmarks: measuring a child process, describing the machine, and
updating one section of docs/benchmarks.md.

Every measured thing runs in a fresh child process. The parent reaps it with `os.wait4`, which
returns that child's own resource usage (its peak RSS and CPU time, plus those of any children it
waited for) — so a measurement never mixes in the parent's memory or the other measurements, as
`RUSAGE_CHILDREN` deltas would for the peak RSS (a maximum over all children ever reaped).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent  # the repository root: what is shown is relative to it
DOC = REPO / "docs" / "benchmarks.md"
PYTHON = sys.executable
MEDALLION = Path(sys.executable).parent / "medallion"  # the console script of this environment

DOCS_INTRO = """# Benchmarks

Benchmarks are run by hand, never in CI: timings depend on the machine and on what else it is
doing, so they would make CI flaky and mean nothing across runners. Each section below is written
by its script (`--write-docs`) and states the date, the machine and the exact command; the numbers
are medians of N runs on that machine (N is given in the section). Re-run the command to compare
on your machine; compare ratios, not absolute times, across machines.
"""


@dataclass
class Sample:
    """One run of a child process."""

    wall_s: float
    user_s: float
    sys_s: float
    max_rss_kb: int
    returncode: int
    stdout: str
    stderr: str
    stopped: str = ""  # why the run was killed (measure's limits), "" if it ran to the end

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def rss_mb(self) -> float:
        return self.max_rss_kb * 1024 / 1e6  # Linux reports ru_maxrss in KiB


def measure(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    max_rss_mb: float | None = None,
) -> Sample:
    """Run `argv` to completion; its wall time, CPU time and peak RSS (of that process only).

    The peak RSS is the child's `VmHWM` (/proc/PID/status), read every 10 ms while it runs: the
    high-water mark of its own memory since its exec. Not `ru_maxrss` from wait4: Linux carries
    the parent's high-water mark into a forked child across exec, so a benchmark parent holding
    2 GB made every child report at least 2 GB. Growth in a child's last 10 ms can be missed.

    A child past `timeout` seconds or `max_rss_mb` of resident memory (the machine is shared: a
    pandas run must not exhaust it) is killed with its process group; `Sample.stopped` says why
    and the sample covers the time until the kill.

    Output goes to temporary files rather than pipes, so the child never blocks on a full pipe
    while the parent sits in wait4."""
    import threading

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [os.fspath(a) for a in argv],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, to kill it whole
        )
        watch = _Watch(proc.pid, started, timeout, max_rss_mb)
        watcher = threading.Thread(target=watch.run, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        sample = Sample(
            wall_s=wall,
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
            max_rss_kb=watch.peak_kb,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            stopped=watch.stopped,
        )
    if check and sample.returncode != 0:
        raise RuntimeError(
            f"{' '.join(_shown_word(a) for a in argv)} exited with {sample.returncode}\n"
            f"--- stdout\n{sample.stdout[-4000:]}\n--- stderr\n{sample.stderr[-4000:]}"
        )
    return sample


class _Watch:
    """Follows a running child: its VmHWM (peak_kb), and the limits (stopped: why it was
    killed). Ends when the child has exited (its status then has no memory lines, or no file)."""

    def __init__(
        self, pid: int, started: float, timeout: float | None, max_rss_mb: float | None
    ) -> None:
        self.pid, self.started = pid, started
        self.timeout, self.max_rss_mb = timeout, max_rss_mb
        self.peak_kb = 0
        self.stopped = ""

    def run(self) -> None:
        import contextlib
        import signal

        while True:
            try:
                text = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            hwm = re.search(r"^VmHWM:\s*(\d+) kB", text, re.MULTILINE)
            rss = re.search(r"^VmRSS:\s*(\d+) kB", text, re.MULTILINE)
            if hwm is None or rss is None:
                return  # a zombie: its memory is gone
            self.peak_kb = max(self.peak_kb, int(hwm.group(1)))
            elapsed = time.perf_counter() - self.started
            if self.timeout is not None and elapsed > self.timeout:
                self.stopped = f"did not finish in {self.timeout:.0f} s"
            elif self.max_rss_mb is not None and int(rss.group(1)) * 1024 / 1e6 > self.max_rss_mb:
                self.stopped = (
                    f"stopped at {self.max_rss_mb / 1000:g} GB of memory after {elapsed:.0f} s"
                )
            if self.stopped:
                with contextlib.suppress(ProcessLookupError):  # it just ended
                    os.killpg(self.pid, signal.SIGKILL)
                return
            time.sleep(0.01)


@dataclass
class Summary:
    """Medians over repeated samples."""

    n: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    walls: list[float]

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Summary:
        return cls(
            n=len(samples),
            wall_s=statistics.median(s.wall_s for s in samples),
            cpu_s=statistics.median(s.cpu_s for s in samples),
            rss_mb=statistics.median(s.rss_mb for s in samples),
            walls=[s.wall_s for s in samples],
        )


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return m.group(1).strip() if m else platform.processor() or "unknown"


def _ram_gb() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    m = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) * 1024 / 1e9 if m else None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(packages: Sequence[str] = ("medallion", "duckdb", "deltalake", "pyarrow")) -> str:
    """One paragraph describing the machine and the software versions."""
    ram = _ram_gb()
    versions = ", ".join(f"{p} {_version(p)}" for p in packages)
    return (
        f"{os.cpu_count()} CPUs ({_cpu_model()}), "
        f"{f'{ram:.1f} GB RAM' if ram else 'RAM unknown'}, "
        f"{platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, {versions}"
    )


def _within(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str | None:
    """`path` relative to `root` ("." for root itself), or None if it is not inside it. Both are
    compared as given (made absolute) and with symbolic links resolved, so a venv's `bin/python`
    (a link to the base interpreter) counts as inside the venv."""
    for p, r in (
        (os.path.abspath(path), os.path.abspath(root)),
        (os.path.realpath(path), os.path.realpath(root)),
    ):
        if p == r or p.startswith(r.rstrip(os.sep) + os.sep):
            return Path(os.path.relpath(p, r)).as_posix()
    return None


def shown(path: str | os.PathLike[str]) -> str:
    """`path` (absolute, or relative to the current folder) as the benchmarks print it: never an
    absolute path of this machine, which must not reach docs/benchmarks.md (nor any committed
    file). Inside the repository: relative to its root (`src/medallion`); under the temporary
    folder: `$TMPDIR/...`; anywhere else: only its name, marked as outside the repository."""
    inside = _within(path, REPO)
    if inside is not None:
        return inside
    temporary = _within(path, tempfile.gettempdir())
    if temporary is not None:
        return "$TMPDIR" if temporary == "." else f"$TMPDIR/{temporary}"
    name = Path(os.path.abspath(path)).name
    return f"<outside the repository>/{name}" if name else "<outside the repository>"


def package_source(name: str) -> str:
    """Where `name` is imported from, with the git commit when it is a checkout (and whether it
    has uncommitted changes), so a result can be tied to the code measured. The folder is shown
    relative to the root of its checkout (`src/medallion`), never as an absolute path."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return f"{name} not importable"
    folder = Path(spec.origin).parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    top = git("rev-parse", "--show-toplevel") if commit else ""
    if _within(folder, REPO) is not None:
        where = shown(folder)  # this checkout, the benchmarks' own
    elif top and _within(folder, top) is not None:
        where = f"{_within(folder, top)} of another checkout"
    elif {"site-packages", "dist-packages"} & set(folder.parts):
        where = "an installed copy (site-packages)"
    else:
        where = shown(folder)
    where = f"{name} {_version(name)} from {where}"
    if not commit:
        return where
    dirty = git("status", "--porcelain", "--untracked-files=no", ".")
    return f"{where} (git {commit}{', with uncommitted changes' if dirty else ''})"


def compile_bytecode(package: str) -> None:
    """Write the .pyc files of `package`, as `pip install` does for a regular install.

    An editable install run with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile the
    package's sources in every measured process, which users of an installed package never
    pay. (py_compile writes regardless of that variable; __pycache__ is git-ignored.)"""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not an importable package")
    folder = spec.submodule_search_locations[0]
    subprocess.run([sys.executable, "-m", "compileall", "-q", folder], check=True)


def publish(text: str, section: str, write_docs: bool) -> None:
    """Print a benchmark's report; with --write-docs, also make it the `section` of DOC."""
    print()
    print(text)
    if write_docs:
        replace_section(DOC, section, text)
        print(f"wrote the '{section}' section of {shown(DOC)}")


def replace_section(doc: Path, heading: str, body: str) -> None:
    """Write `## heading` + body into `doc`, replacing that section if present (up to the next
    `## ` heading) and keeping every other section; creates the file with an intro if missing."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else DOCS_INTRO
    section = f"## {heading}\n\n{body.strip()}\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == f"## {heading}"), None)
    if start is None:
        new = text.rstrip() + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        before = "".join(lines[:start])
        after = "".join(lines[end:])
        new = before + section + ("\n" + after if after else "")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(new, encoding="utf-8")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """A GitHub markdown table; `align` has one letter per column, l or r."""
    marks = ["---:" if a == "r" else ":---" for a in align]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(marks) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    return "\n".join(lines)


def _shown_word(word: str | os.PathLike[str]) -> str:
    """A word of a command run by a benchmark, for a message: an absolute path as `shown`."""
    text = os.fspath(word)
    return shown(text) if os.path.isabs(text) else text


def _shown_arg(arg: str) -> str:
    """An argument of this process's command line as shown: a path (absolute, or an existing
    file or folder named with a folder in it or as a .py script) as `shown` puts it, also
    after `--option=`; anything else quoted for the shell."""
    option, eq, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
    if eq and not value:
        return shlex.quote(arg)
    if os.path.isabs(value) or (
        os.path.exists(value) and (os.sep in value or value.endswith(".py"))
    ):
        # unquoted, so that $TMPDIR expands
        return f"{shlex.quote(option) if option else ''}{eq}{shown(value)}"
    return shlex.quote(arg)


def python_shown() -> str:
    """The interpreter as shown in a command line: relative to the repository root when it is
    in it (`.venv/bin/python`, the repository's own venv), else plain `python`: a temporary
    venv's or the system's interpreter is not named (its path belongs to this machine)."""
    inside = _within(sys.executable, REPO)
    return inside if inside is not None else "python"


def command_line() -> str:
    """The command that started this process, as typed (with PYTHONPATH if set), but with no
    absolute path of this machine: the interpreter as `python_shown`, paths as `shown` (the
    script relative to the repository root, `python benchmarks/retail.py --rows ...`)."""
    _, *args = sys.orig_argv
    command = " ".join([python_shown(), *map(_shown_arg, args)])
    if os.environ.get("PYTHONPATH"):
        entries = os.environ["PYTHONPATH"].split(os.pathsep)
        command = f"PYTHONPATH={os.pathsep.join(shown(e) if e else e for e in entries)} {command}"
    return command


def delta_rows(path: Path) -> int:
    """Rows of the latest version of the Delta table at `path`, from the per-file statistics of
    its log (no data file is read)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(str(path)).get_add_actions(flatten=True))
    return int(pc.sum(actions["num_records"]).as_py() or 0)


def scale_label(rows: int) -> str:
    """100000 -> '100k', 1000000 -> '1M', 2500 -> '2,500'."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if rows >= size and rows % size == 0:
            return f"{rows // size}{unit}"
    return f"{rows:,}"
