"""The package's one exception family."""

__all__ = ["CrmDataError"]


class CrmDataError(ValueError):
    """Raised when input data cannot be used as given.

    A ``ValueError`` subclass, so ``except ValueError`` still catches it. The message
    names the column, the number of affected rows, shows up to five examples and says
    how to fix the data.
    """
