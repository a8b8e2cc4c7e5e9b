"""Run the order reductions on Spark: the shared SQL through ``spark.sql`` on a temp view.

Needs the ``spark`` extra (``pip install crm-analytics[spark]``, i.e. pyspark, and a
Java 17+ runtime). The orders are a PySpark DataFrame with the canonical column names;
only aggregated tables are collected (``toPandas``), or none with ``output="native"``.

Dates are cut to calendar days in the session time zone
(``spark.sql.session.timeZone``); set it to the zone the shop's order times are in
(for naive timestamps read from pandas, the zone they were written in, e.g. "UTC").
Turning on ``spark.sql.execution.arrow.pyspark.enabled`` makes collecting faster.
"""

from __future__ import annotations

import itertools

import pandas as pd

from crm_analytics._core.errors import CrmDataError

__all__ = ["SparkRunner"]

_counter = itertools.count()


class SparkRunner:
    """Runs the analyses' SQL (each analysis' ``sql.py``) on a Spark DataFrame."""

    dialect = "spark"

    def __init__(self, orders: object) -> None:
        try:
            from pyspark.sql import DataFrame
        except ImportError as exc:  # pragma: no cover - only without the extra
            raise CrmDataError(
                "Spark support needs pyspark: pip install 'crm-analytics[spark]'."
            ) from exc
        if not isinstance(orders, DataFrame):
            raise CrmDataError(
                f"orders must be a PySpark DataFrame for the Spark engine. Got "
                f"{type(orders).__name__}."
            )
        self._spark = orders.sparkSession
        self._view = f"crm_orders_{next(_counter)}"
        orders.createOrReplaceTempView(self._view)
        self.columns = list(orders.columns)
        self.column_types = {str(c).lower(): str(t).lower() for c, t in orders.dtypes}

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make a small pandas table queryable as ``name`` in the session."""
        self._spark.createDataFrame(frame).createOrReplaceTempView(name)

    def execute(self, statement: str) -> None:
        """Run a statement now; ``{src}`` is the order view."""
        self._spark.sql(statement.replace("{src}", self._view))

    def materialise(self, name: str, query: str) -> None:
        """Cache a query's result once as temp view ``name`` (``CACHE TABLE ... AS``)."""
        self.execute(f"CACHE TABLE {name} AS {query}")

    def drop(self, name: str) -> None:
        """Uncache and drop a view made by :meth:`materialise` or :meth:`register`."""
        self._spark.catalog.dropTempView(name)

    def write_csv(self, query: str, path, *, quote=()) -> None:
        """Write a query's result to one CSV file with a header row (Spark's writer).

        The rows are written by Spark into a temporary folder as one part file (no
        collect), which is then moved to ``path``.
        """
        import shutil
        import tempfile
        from pathlib import Path

        tmp = Path(tempfile.mkdtemp(prefix="crm_analytics_spark_"))
        try:
            (self.native(query).coalesce(1).write.mode("overwrite")
             .option("header", True).option("emptyValue", "").option("nullValue", "")
             .option("dateFormat", "yyyy-MM-dd").csv(str(tmp / "out")))
            parts = sorted((tmp / "out").glob("part-*.csv"))
            if len(parts) != 1:  # pragma: no cover - coalesce(1) writes one part
                raise CrmDataError(f"Spark wrote {len(parts)} CSV parts; expected 1.")
            shutil.move(str(parts[0]), str(path))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def native(self, query: str):
        """The query as a lazy Spark DataFrame."""
        return self._spark.sql(query.replace("{src}", self._view))

    def fetch(self, query: str) -> pd.DataFrame:
        """The query's (small) result collected to pandas."""
        return self.native(query).toPandas()
