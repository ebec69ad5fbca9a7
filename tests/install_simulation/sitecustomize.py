"""Makes this interpreter look like an install without some packages: every top-level module named in
CROSSCHECK_UNINSTALLED (comma-separated) fails to import and is not found, in this process and in the
worker processes it starts (they inherit PYTHONPATH and the variable)."""

import importlib.abc
import os
import sys

UNINSTALLED = frozenset(filter(None, os.environ.get("CROSSCHECK_UNINSTALLED", "").split(",")))


class _Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in UNINSTALLED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Uninstalled())
