"""Errors a user can fix: the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input (file, row, column, name, parameter): the message says what and where."""
