"""The command-line side of runSC.py, runST.py and draw_DEGs.py.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` (unless set already), before torch starts
its OpenMP threads: idle threads then sleep instead of spinning. Measured with 2 threads
on the 2-core machine while a one-core benchmark ran beside: a demo seed took 1.8 s
passive against 72-106 s with the OpenMP default, and 20 epochs of Baron_mouse1 9.5 s
passive against 44.7 s with ACTIVE (9.8 s on one thread).
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
