"""How the report runs: its output folder, its progress bar and the warnings state."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from crm_analytics._core.errors import CrmDataError

__all__ = ["STEPS", "output_folder", "progress_steps", "warnings_state_kept"]

#: The report's steps, as the progress bar counts them.
STEPS = ("summary", "cohorts", "sleeping", "churn", "ltv", "segments", "files", "html")


def output_folder(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path, created if missing (a clear error if it cannot be)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CrmDataError(f"Cannot create the output folder {out}: {exc}.") from exc
    return out


def progress_steps(progress: bool) -> tuple[object, Callable[[str], None]]:
    """The report's step bar on stderr, and ``step(name)``, which advances it."""
    bar = tqdm(total=len(STEPS), disable=not progress, desc="crm-analytics report",
               unit="step", leave=False)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    return bar, step


@contextmanager
def warnings_state_kept() -> Iterator[None]:
    """Leave the global warnings state as it was, whatever threads did inside the block.

    Before Python 3.14 ``warnings.catch_warnings`` is not thread-safe: pandas, sklearn
    and lifetimes enter it on the report's threads, and interleaved entries and exits
    can leave one thread's temporary filters installed. Warnings shown during the block
    may therefore differ; the state afterwards does not.
    """
    filters, saved = warnings.filters, list(warnings.filters)
    show, show_impl = warnings.showwarning, warnings._showwarnmsg_impl  # type: ignore
    try:
        yield
    finally:
        filters[:] = saved
        warnings.filters = filters
        warnings.showwarning = show
        warnings._showwarnmsg_impl = show_impl  # type: ignore[attr-defined]
        warnings._filters_mutated()  # type: ignore[attr-defined]
