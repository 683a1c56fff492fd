"""Errors that describe a problem the user can fix."""


class UsageError(Exception):
    """A problem with the user's input that they can fix.

    Args:
        message: what is wrong and how to fix it, in one line.
        parameter: the name of the library parameter at fault (``"batch_size"``),
            if there is one; the command line shows it as its flag (``--batch-size``).

    The command line prints it in one line and exits with status 2.
    """

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter
