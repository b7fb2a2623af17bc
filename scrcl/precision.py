"""Moved to :mod:`scrcl.training.precision`; this name imports the same module for one release."""
import sys as _sys

from .training import precision as _module

_sys.modules[__name__] = _module
