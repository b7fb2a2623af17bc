"""Probe (accuracy issue): does clustering an exponential moving average (EMA) of the
model's parameters, instead of the parameters of the last step, calm the epoch-to-epoch
swings of the spatial partitions and lift the label-free (silhouette) pick?

Written before it was run. Reason: on the slices the k-means partition of consecutive
candidate epochs moves by 0.1-0.2 ARI and the silhouette picks late epochs that are not
the good ones; the losses keep pushing the parameters around a region rather than
converging, and an average of the recent parameters is the standard way to read such a
run (Polyak averaging). The training is the same run (the EMA is read, never trained);
each probe run gives the raw model's candidates and the EMA's, paired.

One label-free training run per slice (seed 5, the slice's preset, 500 epochs, one
thread). EMA decays 0.95 and 0.99 (horizons of about 20 and 100 epochs, one step an
epoch), updated after every optimiser step. At every candidate epoch (every 10th and the
last) each model (raw, EMA 0.95, EMA 0.99) is clustered as the pipeline does (the preset's
embedding, cosine k-means with the preset's restarts seeded by the seed, refined with the
preset's radius) and scored: ARI against the truth, the cosine silhouette on its embedding.
Per model: the silhouette pick, the best candidate (answer key), the mean ARI over
candidates and the mean |ARI change| between consecutive candidates (the swing).

Verdict rule, written first: an EMA is worth a runner study (3 seeds, every stand-in)
only if its silhouette pick averages at least 0.02 above the raw model's over the probe's
slices and is not lower on more than one of them. One seed: a probe, not a measurement.

    OMP_NUM_THREADS=1 python bench/ema_probe.py 151507 151669 151670 151675 151510

Writes ``bench/results/probes/ema.json`` (``--out``), rewritten after each slice.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from _probes import prepare_slice, probe_slices  # noqa: E402

DECAYS = (0.95, 0.99)
OUT = HERE / "results" / "probes" / "ema.json"


class _Ema:
    """EMA copies of a model's parameters and buffers, updated by :meth:`update`."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model)
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for ema, p in zip(self.model.state_dict().values(), model.state_dict().values()):
            if ema.dtype.is_floating_point:
                ema.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)
            else:
                ema.copy_(p)


def probe(name: str, seed: int = 5) -> dict:
    from scrcl.clustering.kmeans import kmeans_cosine
    from scrcl.clustering.selection import silhouette
    from scrcl.metrics import evaluate
    from scrcl.pipeline import clustering_input
    from scrcl.training import train as train_mod
    from scrcl.training.train import embed, train

    t0 = time.time()
    sl = prepare_slice(name)
    cfg, truth, k, refine, wanted = sl.cfg, sl.truth, sl.k, sl.refine, sl.wanted
    inputs, precision = sl.inputs, sl.precision
    state: dict = {"emas": None, "model": None}

    # the probe reads the model the training plan builds and updates its EMAs after every
    # optimiser step; the training itself is unchanged
    base_module, base_adam = train_mod.ScrclModule, torch.optim.Adam

    class Module(base_module):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            state["model"] = self

    class Adam(base_adam):
        def step(self, *a, **kw):
            out = super().step(*a, **kw)
            model = state["model"]
            if state["emas"] is None:
                state["emas"] = {d: _Ema(model, d) for d in DECAYS}
            else:
                for ema in state["emas"].values():
                    ema.update(model)
            return out

    rows = []

    def score(outputs) -> dict:
        emb = clustering_input(outputs, cfg.embedding).float()
        labels = refine(kmeans_cosine(emb, k, n_init=cfg.kmeans_n_init, seed=seed).labels)
        return {"ari": evaluate(truth, labels)["ari"], "sil": silhouette(emb, labels)}

    def on_epoch(epoch, outputs):
        if epoch not in wanted:
            return
        row = {"epoch": epoch, "raw": score(outputs)}
        for d, ema in state["emas"].items():
            row[f"ema{d}"] = score(embed(ema.model, inputs, precision, normalized=False))
        rows.append(row)

    train_mod.ScrclModule, torch.optim.Adam = Module, Adam
    try:
        train(inputs, cfg, cfg.out_dim or k, seed, on_epoch=on_epoch,
              eval_every=cfg.select_stride, progress=False)
    finally:
        train_mod.ScrclModule, torch.optim.Adam = base_module, base_adam
    summary = {}
    for m in ["raw"] + [f"ema{d}" for d in DECAYS]:
        pick = max(rows, key=lambda r: (r[m]["sil"], r["epoch"]))
        aris = [r[m]["ari"] for r in rows]
        summary[m] = {"picked_ari": pick[m]["ari"], "picked_epoch": pick["epoch"],
                      "best_ari": max(aris), "mean_ari": float(np.mean(aris)),
                      "swing": float(np.mean(np.abs(np.diff(aris))))}
    return {"rows": rows, "summary": summary, "wall_s": time.time() - t0, "seed": seed}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("slices", nargs="+")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    probe_slices(probe, args.slices, args.out, keep=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
