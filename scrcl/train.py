"""Moved to :mod:`scrcl.training.train`; this name imports the same module for one release."""
import sys as _sys

from .training import train as _module

_sys.modules[__name__] = _module
