"""Figures. Every function draws onto new figures, saves them and closes them; none shows.

Pick a non-interactive backend (``matplotlib.use("Agg")``) before calling these on a machine
without a display; the command-line scripts do.
"""
from .degs import MARKER_PLOTS, marker_figures, umap_coordinates, umap_figure

__all__ = ["MARKER_PLOTS", "marker_figures", "umap_coordinates", "umap_figure"]
