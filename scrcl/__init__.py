"""scrcl: refinement contrastive learning of cell-gene associations (scRCL), for cell types
from scRNA-seq and tissue domains from spatial transcriptomics."""
__version__ = "0.1.0"
