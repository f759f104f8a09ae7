"""The one exception type the CLI turns into a one-line message and exit code 2."""


class CohortforgeError(ValueError):
    """Bad input or an unusable environment; the message says what is wrong and how to fix it."""
