"""Label-free stopping: when training has earned its epochs.

The label-free protocol clusters the model at candidate epochs (``selection.
candidate_epochs``) and keeps the candidate with the best selection score. Training can end
once that score has stopped improving: with ``patience`` stride candidates in a row (every
``select_stride`` epochs) without a new best, the run stops and returns its best candidate
so far, as early stopping on a validation score does, with a label-free score in place of
the validation loss. ``--epochs`` is then the most a run trains. The rule and why
(measured on the stored candidates of the stand-ins): ``docs/design/stopping.md``,
``bench/study_stopping.py``.

No label is read: the score is the partition's own silhouette (``selection.silhouette``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

#: the values of ``ScrclConfig.stop``
STOPS = ("auto", "never")


@dataclass(frozen=True)
class StopRule:
    """Stop once ``patience`` stride candidates in a row set no new best score (higher by
    more than ``min_delta``), at epoch ``min_epoch`` or later. Early candidates (epochs
    1 to ``select_first``) count for the best score, not for the wait."""

    patience: int = 25  # ScrclConfig.stop_patience (config.STOP_PATIENCE)
    min_epoch: int = 0
    min_delta: float = 0.0


@dataclass
class StopDecision:
    """Why and where training ended, as written to the log and to metrics.json."""

    epoch: int  # the last epoch trained
    signal: str  # 'plateau' (the rule) or 'max_epochs' (--epochs reached first)
    best_epoch: int  # the candidate with the best score when training ended
    best_score: float
    since_best: int  # stride candidates since the best
    patience: int
    max_epochs: int

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.signal == "plateau":
            return (f"stopped after epoch {self.epoch} of at most {self.max_epochs}: the "
                    f"selection score (silhouette) set no new best in {self.since_best} "
                    f"candidates (best {self.best_score:.4f} at epoch {self.best_epoch})")
        return (f"trained all {self.epoch} epochs (--epochs); best selection score "
                f"{self.best_score:.4f} at epoch {self.best_epoch}")


class Plateau:
    """The stopping rule fed one candidate at a time (in epoch order)."""

    def __init__(self, rule: StopRule, max_epochs: int) -> None:
        self.rule, self.max_epochs = rule, max_epochs
        self.best_score = float("-inf")
        self.best_epoch = 0
        self.since = 0
        self.decision: Optional[StopDecision] = None

    def update(self, epoch: int, score: float, stride: bool = True) -> bool:
        """Record candidate ``epoch`` with its ``score`` (``stride``: a candidate of the
        stride, which counts for the wait; False for an early one). True when training
        should stop after this epoch (``decision`` then says why)."""
        if score > self.best_score + self.rule.min_delta:
            self.best_score, self.best_epoch, self.since = score, epoch, 0
        else:
            if score >= self.best_score:  # a tie: the later epoch, as the selection
                self.best_epoch = epoch
            if stride:
                self.since += 1
        if (stride and self.since >= self.rule.patience and epoch >= self.rule.min_epoch
                and epoch < self.max_epochs):
            self.decision = self._decide(epoch, "plateau")
            return True
        return False

    def finish(self, epoch: int) -> StopDecision:
        """The decision of a run that trained to ``epoch`` (the rule's, if it stopped it)."""
        if self.decision is None:
            self.decision = self._decide(epoch, "max_epochs")
        return self.decision

    def _decide(self, epoch: int, signal: str) -> StopDecision:
        return StopDecision(epoch, signal, self.best_epoch, float(self.best_score),
                            self.since, self.rule.patience, self.max_epochs)


def stop_index(epochs: Sequence[int], scores: Sequence[float], rule: StopRule,
               stride: int = 10, max_epochs: Optional[int] = None) -> int:
    """Index of the candidate after which :class:`Plateau` stops a run whose candidates
    are ``epochs`` (ascending) with ``scores`` (the last index when it never stops).
    Candidates that are not multiples of ``stride`` (nor the last epoch) are early ones."""
    last = max_epochs if max_epochs is not None else epochs[-1]
    plateau = Plateau(rule, last)
    for i, (epoch, score) in enumerate(zip(epochs, scores)):
        if plateau.update(int(epoch), float(score), epoch % stride == 0 or epoch == last):
            return i
    return len(epochs) - 1
