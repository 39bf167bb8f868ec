"""piiflow's recognizers, one module each (``<name>_recognizer.py``, found by name), registered in ``RECOGNIZERS``
on import.

Presidio ships none for Chinese identifiers, and its ``\\b``-bounded patterns fail next to Chinese characters;
these use explicit ASCII boundaries and validate check digits where the format has them.
"""

import importlib
import pkgutil

from transforms.recognizers.base import LANGUAGES, RECOGNIZERS, PiiflowRecognizer, entity_roles, register

#: Every ``<name>_recognizer.py`` module of this package, imported (so registered) in name order: a new recognizer is
#: a module, nothing to list by hand.
RECOGNIZER_MODULES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.endswith("_recognizer")))
for _name in RECOGNIZER_MODULES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["LANGUAGES", "RECOGNIZERS", "RECOGNIZER_MODULES", "PiiflowRecognizer", "entity_roles", "register"]
