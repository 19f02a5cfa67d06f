"""Errors of the virtual board that the user can fix."""


class SimError(ValueError):
    """A problem with how the virtual board is used (unknown board, state dir
    not writable or in use, bad image...). The message says what to do."""
