"""The analysis stage's two error channels, mapped to csweep's exit codes (core/error.hpp)."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_INCOMPLETE = 3  # a results file whose root attribute complete != 1 (as analysis/summarize.py)
EXIT_USAGE = 64


class InputError(Exception):
    """Bad user input: the message names the file, the field, the value and what was expected."""


class IncompleteError(InputError):
    """A partial results file (interrupted run, unfinished shard)."""


def input_error(where, what, got=None, expected=None):
    msg = f"{where}: {what}" if where else what
    extra = []
    if got is not None:
        extra.append(f"got {got}")
    if expected is not None:
        extra.append(f"expected {expected}")
    if extra:
        msg += " (" + ", ".join(extra) + ")"
    return InputError(msg)
