"""Moved to :mod:`scrcl.training.memory`; this name imports the same module for one release."""
import sys as _sys

from .training import memory as _module

_sys.modules[__name__] = _module
