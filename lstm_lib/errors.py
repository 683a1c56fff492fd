"""Errors that describe a problem the user can fix."""


class UsageError(Exception):
    """A problem with the user's input that they can fix.

    The command line prints it in one line and exits with status 2.
    """
