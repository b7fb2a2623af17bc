#!/usr/bin/env python
"""Cell types of scRNA-seq data by scRCL. `python runSC.py --help` lists every option."""
from scrcl.cli.sc import main

if __name__ == "__main__":
    raise SystemExit(main())
