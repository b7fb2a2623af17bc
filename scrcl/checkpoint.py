"""Moved to :mod:`scrcl.training.checkpoint`; this name imports the same module for one release."""
import sys as _sys

from .training import checkpoint as _module

_sys.modules[__name__] = _module
