"""PyYAML, imported with its regular expressions compiled when each is first used.

Importing PyYAML compiles some twenty patterns for its pure-Python reader, scanner, resolver and
constructor (the reader's class of non-printable characters alone takes 5 ms): 12 of the 19 ms its import
takes on two cores, a tenth of `causalc lint specs`. causalc reads YAML with libyaml (CSafeLoader), whose
Python side uses only the resolver's patterns and the constructor's timestamp pattern, and those only for
the scalars it meets. So while PyYAML is imported (once, at causalc's first import of it, when no other
thread of causalc runs), `re.compile` hands out patterns that compile themselves when first used. Where
PyYAML was already imported, it is used as it is.

    from convert.frontend.pyyaml import yaml
"""

from __future__ import annotations

import re
import sys


class Deferred:
    """A regular expression compiled when first used: every attribute of the compiled pattern (`match`,
    `search`, `pattern`, ...) is the compiled one's."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern, flags=0):
        self._args = (pattern, flags)
        self._compiled = None

    def __getattr__(self, name):
        if self._compiled is None:
            self._compiled = _COMPILE(*self._args)
        return getattr(self._compiled, name)


_COMPILE = re.compile


def _imported():
    if "yaml" in sys.modules:
        return sys.modules["yaml"]
    re.compile = Deferred
    try:
        import yaml
    finally:
        re.compile = _COMPILE
    return yaml


yaml = _imported()
