"""The one error base: every error causalc raises derives from CausalcError, so a caller (the command line
among them) handles one class. Subclasses keep a built-in base too (ValueError, OSError, ...) where
callers of the Python API catch that."""

from __future__ import annotations


class CausalcError(Exception):
    """An error of the input or of a run, said in words for the user.

    `exit_code` is what the command line exits with. `nothing_written` is causalc's promise that no output
    was committed when this was raised (every command stages its outputs and commits them as a set only
    when all of them are ready). `with_context` adds what the caller knows (which file, which option)."""

    exit_code = 1
    nothing_written = True
    prefix = ""
    suffix = ""

    def __str__(self) -> str:
        return f"{self.prefix}{super().__str__()}{self.suffix}"

    def with_context(self, prefix: str = "", suffix: str = "") -> CausalcError:
        """The same error, its message between `prefix` and `suffix` (around any context given before)."""
        self.prefix, self.suffix = prefix + self.prefix, self.suffix + suffix
        return self


class InternalError(CausalcError):
    """A bug in causalc, not in its input (a kind or a practice op reached a pass unregistered)."""


class BadValue(CausalcError, ValueError):
    """A value causalc was given that it cannot use: an argument, an array, a model that does not fit."""


class TooLarge(BadValue):
    """What an input or an option asks for would take more memory than causalc's limit
    (`convert.core.limits.check_memory`, `causalc --max-memory`): refused before anything is allocated."""


class OptionError(BadValue):
    """A command's options that cannot be used together or as given; `option` names the one at fault (None:
    the combination). The command line says it as a usage error (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


class NotRegular(CausalcError, OSError):
    """A path that is not a regular file (a FIFO, a device, a folder) where causalc reads or writes one:
    reading or writing it could block for ever."""
