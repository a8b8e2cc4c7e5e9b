"""The package's one exception family."""

__all__ = ["CrmDataError", "UnreadableInputError"]


class CrmDataError(ValueError):
    """Raised when input data cannot be used as given.

    A ``ValueError`` subclass, so ``except ValueError`` still catches it. The message
    names the column, the number of affected rows, shows up to five examples and says
    how to fix the data.
    """


class UnreadableInputError(CrmDataError):
    """The input could not be read at all: no such file, a folder, binary data, a file
    that is not the format its name says, an encoding that does not decode it. Nothing
    in the data was looked at, so the command line treats it as unusable input (exit 2)
    even where invalid data has its own exit code (``validate``).
    """
