"""Run the order reductions on DuckDB: embedded, out-of-core, on Parquet or a relation.

Sources accepted (``orders``):

- a Parquet path, glob or list of them (``str`` or :class:`pathlib.Path`): read with
  ``read_parquet`` in a private connection whose ``memory_limit``, ``temp_directory``
  and ``threads`` are the parameters given, so an order set larger than memory
  spills to disk instead of failing;
- a ``duckdb.DuckDBPyRelation`` (any query, file or table of the user's connection;
  that connection's settings apply);
- a table or view name together with ``connection=``;
- a pandas DataFrame (registered in a private connection; mostly for testing).

The SQL lives beside each analysis (its ``sql.py``), shared with Spark.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from crm_analytics._core.errors import CrmDataError

__all__ = ["DuckDBRunner", "check_memory_limit", "is_duckdb_source", "parse_size", "runner"]

_VIEW = "crm_orders"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_path(obj: object) -> bool:
    if isinstance(obj, str | os.PathLike):
        return True
    return (isinstance(obj, Sequence) and not isinstance(obj, str) and len(obj) > 0
            and all(isinstance(p, str | os.PathLike) for p in obj))


def _type_names(relation: duckdb.DuckDBPyRelation) -> dict[str, str]:
    """Lower-cased column name -> lower-cased SQL type name (``varchar``, ``bigint`` ...)."""
    return {str(c).lower(): str(t).lower()
            for c, t in zip(relation.columns, relation.types, strict=True)}


def _refused(config: dict, exc: BaseException) -> CrmDataError:
    return CrmDataError(
        f"DuckDB refused the engine settings {config}: {exc}. Use sizes such as "
        "memory_limit='2GB' (command line: --memory-limit 2GB), an existing folder for "
        "temp_directory and a whole number of threads."
    )


def check_memory_limit(value: object) -> str:
    """``value`` as a DuckDB memory limit text, or a clear :class:`CrmDataError`.

    Checked by DuckDB itself (a throwaway in-memory connection), so exactly what an
    engine would accept passes, whether or not an engine runs afterwards.

    >>> check_memory_limit("2GB")
    '2GB'
    >>> check_memory_limit("lots")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crm_analytics._core.errors.CrmDataError: DuckDB refused the engine settings ...
    """
    config = {"memory_limit": str(value)}
    try:
        duckdb.connect(config=config).close()
    except duckdb.Error as exc:
        raise _refused(config, exc) from exc
    return str(value)


def is_duckdb_source(obj: object) -> bool:
    """True for a DuckDB relation or a Parquet path / glob / list of paths."""
    return isinstance(obj, duckdb.DuckDBPyRelation) or _is_path(obj)


class DuckDBRunner:
    """Runs the shared SQL on one order source (see the module docstring)."""

    dialect = "duckdb"

    def __init__(
        self,
        orders: object,
        *,
        connection: duckdb.DuckDBPyConnection | None = None,
        memory_limit: str | None = None,
        temp_directory: str | os.PathLike | None = None,
        threads: int | None = None,
    ) -> None:
        self._relation = None
        self._con = connection
        if memory_limit is not None:
            memory_limit = check_memory_limit(memory_limit)  # also where it is not used
        if isinstance(orders, duckdb.DuckDBPyRelation):
            self._relation = orders
            self._src = _VIEW
            self.columns = list(orders.columns)
            self.column_types = _type_names(orders)
            return
        if self._con is None:
            config = {}
            if memory_limit is not None:
                config["memory_limit"] = str(memory_limit)
                # lets large results stream to disk without holding row order in memory
                config["preserve_insertion_order"] = False
            if temp_directory is not None:
                config["temp_directory"] = str(temp_directory)
            if threads is not None:
                config["threads"] = int(threads)
            try:
                self._con = duckdb.connect(config=config)
            except duckdb.Error as exc:
                raise _refused(config, exc) from exc
        if isinstance(orders, pd.DataFrame):
            self._con.register(_VIEW, orders)
            self._src = _VIEW
        elif connection is not None and isinstance(orders, str):
            self._src = orders  # a table or view of the given connection
        elif _is_path(orders):
            paths = [orders] if isinstance(orders, str | os.PathLike) else list(orders)
            self._src = "read_parquet([" + ", ".join(_quote(os.fspath(p)) for p in paths) + "])"
            self._check_paths(paths)
        else:
            raise CrmDataError(
                "orders must be a pandas DataFrame, a DuckDB relation, a Parquet path, glob "
                f"or list of paths, or a table name with connection=. Got {type(orders).__name__}."
            )
        try:
            empty = self._con.sql(f"SELECT * FROM {self._src} LIMIT 0")
            self.columns = list(empty.columns)
            self.column_types = _type_names(empty)
        except duckdb.Error as exc:
            raise CrmDataError(f"DuckDB cannot read the order source {self._src}: {exc}") from exc

    @staticmethod
    def _check_paths(paths: list) -> None:
        import glob

        missing = [os.fspath(p) for p in paths
                   if not glob.has_magic(os.fspath(p)) and not Path(p).exists()]
        if missing:
            raise CrmDataError(f"Parquet file(s) not found: {missing[:5]}. Check the path(s).")

    def memory_limit_bytes(self) -> int | None:
        """The connection's ``memory_limit`` in bytes (None when it cannot be read)."""
        try:
            text = str(self.fetch("SELECT current_setting('memory_limit') AS m")["m"].iloc[0])
        except (duckdb.Error, KeyError, IndexError):  # pragma: no cover - odd builds
            return None
        return parse_size(text)

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make a small pandas table queryable as ``name`` (a temp table) next to the orders.

        For a bare relation (whose connection cannot be reached) the table goes through
        a temporary Parquet file read by the relation's own connection.
        """
        if self._con is not None:
            view = f"{name}_frame"
            self._con.register(view, frame)
            try:
                self._con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
            finally:
                self._con.unregister(view)
            return
        import tempfile

        with tempfile.TemporaryDirectory(prefix="crm_analytics_") as tmp:
            path = Path(tmp) / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            self.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS "
                         f"SELECT * FROM read_parquet({_quote(path.as_posix())})")

    def execute(self, statement: str) -> None:
        """Run a statement (CREATE, COPY ...) now; ``{src}`` is the order source."""
        statement = statement.replace("{src}", self._src)
        try:
            if self._relation is not None:
                self._relation.query(_VIEW, statement)  # DDL runs at once
            else:
                self._con.execute(statement)
        except duckdb.Error as exc:
            raise CrmDataError(f"DuckDB failed: {exc}") from exc

    def materialise(self, name: str, query: str) -> None:
        """Store a query's result once as temp table ``name`` (spills under memory_limit)."""
        self.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")

    def drop(self, name: str) -> None:
        """Drop a temp table made by :meth:`materialise` or :meth:`register`."""
        self.execute(f"DROP TABLE IF EXISTS {name}")

    def write_csv(self, query: str, path: str | os.PathLike, *,
                  quote: Sequence[str] = ()) -> None:
        """Write a query's result to a CSV file with a header row, streaming (DuckDB COPY).

        Text columns named in ``quote`` are always quoted; empty cells are NULLs.
        """
        force = f", FORCE_QUOTE ({', '.join(quote)})" if quote else ""
        self.execute(f"COPY ({query}) TO {_quote(os.fspath(path))} "
                     f"(FORMAT CSV, HEADER, DELIMITER ','{force})")

    def native(self, query: str) -> duckdb.DuckDBPyRelation:
        """The query as a lazy DuckDB relation."""
        query = query.replace("{src}", self._src)
        if self._relation is not None:
            return self._relation.query(_VIEW, query)
        return self._con.sql(query)

    def fetch(self, query: str) -> pd.DataFrame:
        """The query's result as pandas."""
        return self.native(query).df()


_UNITS = {"b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int | None:
    """Bytes in a DuckDB size such as ``"953.6 MiB"`` or ``"2GB"`` (None if not one).

    >>> parse_size("953.6 MiB"), parse_size("2GB"), parse_size("unlimited")
    (999922073, 2000000000, None)
    """
    import re

    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS | {"": 1}:
        return None
    return int(float(match.group(1)) * _UNITS.get(match.group(2).lower(), 1))


def runner(orders: object, **options: object) -> DuckDBRunner:
    """A :class:`DuckDBRunner` for ``orders`` with the given connection options."""
    return DuckDBRunner(orders, **options)
