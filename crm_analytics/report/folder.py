"""One report per folder: written aside, moved into place, under a lock.

A report is written into a temporary folder beside ``out_dir`` and its files are moved
into ``out_dir`` only when every one of them is written, so a failed run leaves the
folder as it was. ``out_dir`` keeps a manifest (:data:`MANIFEST`) of the files the
package wrote there; the next report removes those files (stale charts of other data)
and never touches any other file. Two reports writing into one folder at the same time
do not mix: a lock file beside the folder, created exclusively, lets one run at a time;
the second waits up to :data:`LOCK_WAIT_SECONDS` seconds, then gives up with a clear
:class:`~crm_analytics._core.errors.CrmDataError`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crm_analytics._core.errors import CrmDataError

__all__ = ["LOCK_WAIT_SECONDS", "MANIFEST", "lock_path", "report_folder", "written_files"]

#: The manifest of the files a report wrote, kept in the output folder.
MANIFEST = ".crm-analytics-report.json"
#: How long a report waits for another report writing into the same folder.
LOCK_WAIT_SECONDS = 10.0


def lock_path(out: Path) -> Path:
    """The lock file of the output folder ``out`` (beside it, hidden).

    >>> lock_path(Path("shop/crm_report")).name
    '.crm_report.crm-analytics-lock'
    """
    return out.parent / f".{out.name}.crm-analytics-lock"


def written_files(out: Path) -> list[str]:
    """Names of the files the last report wrote into ``out`` (from its manifest).

    Only plain file names are returned (no separators), so a damaged manifest cannot
    point outside the folder; [] without a readable manifest.
    """
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        names = data["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and n and n == Path(n).name
            and n not in (".", "..", MANIFEST)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _take_lock(lock: Path, wait: float, out: Path) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = int(lock.read_text(encoding="ascii").strip() or "0")
            except (OSError, ValueError):
                holder = 0
            if holder > 0 and holder != os.getpid() and not _pid_alive(holder):
                lock.unlink(missing_ok=True)  # left by a run that died: take it over
                continue
            if time.monotonic() >= deadline:
                raise CrmDataError(
                    f"Another report is writing into {out} "
                    f"(lock file {lock}, process {holder or 'unknown'}). Wait for it to "
                    "finish, or write into another folder (command line: --out); delete "
                    "the lock file only if no report is running.") from None
            time.sleep(0.1)
            continue
        except OSError as exc:
            raise CrmDataError(f"Cannot create the output folder's lock file {lock}: "
                               f"{exc}.") from exc
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(str(os.getpid()))
        return


@contextmanager
def report_folder(out_dir: str | Path, *, wait: float | None = None) -> Iterator[Path]:
    """A temporary folder to write a report into; its files end up in ``out_dir``.

    ``wait``: seconds to wait for another report writing into ``out_dir`` (default
    :data:`LOCK_WAIT_SECONDS`).

    On a normal exit the files of the previous report (its manifest) are removed from
    ``out_dir``, the new files are moved in, and a new manifest lists them; on an
    error the temporary folder is removed and ``out_dir`` is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "report"
    >>> with report_folder(out) as tmp:
    ...     _ = (tmp / "a.csv").write_text("x")
    >>> sorted(p.name for p in out.iterdir())
    ['.crm-analytics-report.json', 'a.csv']
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CrmDataError(f"Cannot write the report into {out}: it is a file, not a folder. "
                           "Choose a folder (command line: --out).")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CrmDataError(f"Cannot create the output folder {out}: {exc}.") from exc
    lock = lock_path(out)
    _take_lock(lock, LOCK_WAIT_SECONDS if wait is None else float(wait), out)
    tmp = None
    try:
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.crm-analytics-tmp-",
                                        dir=out.parent))
        except OSError as exc:
            raise CrmDataError(f"Cannot write into {out.parent}: {exc}.") from exc
        yield tmp
        _move_into_place(tmp, out)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        lock.unlink(missing_ok=True)


def _move_into_place(tmp: Path, out: Path) -> None:
    names = sorted(p.name for p in tmp.iterdir() if p.is_file())
    try:
        out.mkdir(parents=True, exist_ok=True)
        for old in written_files(out):
            if old not in names and (out / old).is_file():
                (out / old).unlink()
        for name in names:
            os.replace(tmp / name, out / name)
        manifest = {"written_by": "crm-analytics report", "files": names}
        part = tmp / MANIFEST
        part.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(part, out / MANIFEST)
    except OSError as exc:
        raise CrmDataError(f"Cannot write the report into {out}: {exc}.") from exc
