"""Step kinds, one module each. Importing this package imports (and so registers) them all.

Discovery walks the package instead of keeping a list, so a new kind is a new file here.
"""
import importlib
import pkgutil

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
