"""The one exception type the terminology subsystem raises for bad input."""


class TerminologyError(ValueError):
    """Bad terminology input: unknown system, missing or malformed file, conflicting display.

    Messages are one line and name the file, the line and the fix, so the CLI can print
    them as they are (DESIGN.md section 9).
    """
