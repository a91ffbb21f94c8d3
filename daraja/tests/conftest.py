"""Lets this suite run without Odoo.

The repo root is the Odoo module: pytest imports its __init__.py (which imports odoo) as the parent
package of daraja. Stand in an empty package for it (same approach as daraja_simulator/tests).
"""

import sys
import types
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
if (_ROOT / "__init__.py").exists() and _ROOT.name not in sys.modules:
    _stub = types.ModuleType(_ROOT.name)
    _stub.__file__ = str(_ROOT / "__init__.py")
    _stub.__path__ = [str(_ROOT)]
    sys.modules[_ROOT.name] = _stub
