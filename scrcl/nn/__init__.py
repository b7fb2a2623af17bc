"""Neural-network modules of scRCL (``torch.nn.Module`` only; no data handling)."""
from .model import ScrclModule, ViewInput
from .refine import GeneEncoder, Refinement
from .views import GCNView, MLPView

__all__ = ["ScrclModule", "ViewInput", "MLPView", "GCNView", "GeneEncoder", "Refinement"]
