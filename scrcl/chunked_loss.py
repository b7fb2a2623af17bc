"""Moved to :mod:`scrcl.training.chunked_loss`; this name imports the same module for one release."""
import sys as _sys

from .training import chunked_loss as _module

_sys.modules[__name__] = _module
