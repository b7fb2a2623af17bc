#!/usr/bin/env python
"""Spatial domains of spatial transcriptomics data by scRCL. `python runST.py --help` lists every option."""
from scrcl.cli.st import main

if __name__ == "__main__":
    raise SystemExit(main())
