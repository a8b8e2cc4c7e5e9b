"""Shared fixtures: tiny hand-computable order tables, and one local Spark session."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def tiny_orders() -> pd.DataFrame:
    """Three customers, hand-checkable: a repeats on a later day, b only on one day, c twice."""
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c", "c"],
            "order_id": ["1", "2", "3", "4", "5", "6", "7"],
            "order_date": pd.to_datetime(
                [
                    "2024-01-01 09:00", "2024-01-01 18:00", "2024-02-15",
                    "2024-01-20", "2024-01-20 12:00", "2024-02-03", "2024-04-10",
                ],
                format="mixed",
            ),
            "amount": [10.0, 5.0, 30.0, 8.0, 2.0, 50.0, 70.0],
            "margin": [3.0, 1.5, 9.0, 2.4, 0.6, 15.0, 21.0],
        }
    )


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    """The CDNOW 1/10 sample as canonical orders (Fader, Hardie & Lee 2005)."""
    from crm_analytics.orders.datasets import load_cdnow

    return load_cdnow("sample")


@pytest.fixture(scope="session")
def weekly(cdnow) -> pd.DataFrame:
    """CDNOW calibration summary to 1997-09-30 in weeks, as in the paper."""
    from crm_analytics.summary import customer_summary

    return customer_summary(cdnow, as_of="1997-09-30", time_unit="W")


@pytest.fixture(scope="session")
def daily(cdnow) -> pd.DataFrame:
    """CDNOW calibration summary to 1997-09-30 in days."""
    from crm_analytics.summary import customer_summary

    return customer_summary(cdnow, as_of="1997-09-30", time_unit="D")


@pytest.fixture(scope="session")
def spark():
    """One local[2] Spark session for every Spark test (it takes ~20 s to start)."""
    import shutil

    pytest.importorskip("pyspark", reason="pyspark not installed (pip install .[spark])")
    if shutil.which("java") is None:
        pytest.skip("Spark tests need Java 17+ (java not on PATH)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]").appName("crm-analytics-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_frame(spark):
    """A function turning orders into a cached Spark DataFrame of that session."""
    import warnings

    def make(orders: pd.DataFrame):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark about pandas 3
            frame = spark.createDataFrame(orders).cache()
        frame.count()
        return frame

    return make
