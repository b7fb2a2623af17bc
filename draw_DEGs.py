#!/usr/bin/env python
"""Marker genes and figures of the clusters of a scRCL run (see --help)."""
from scrcl.cli.degs import main

raise SystemExit(main())
