"""The defaults by task, and the presets kept as published."""
from scrcl.config import SELECT_FIRST, default_config, get_preset, preset_names


def test_early_epochs_are_candidates_on_scrna_seq_only():
    """scRNA-seq: epochs 1-9 are candidates of the label-free choice; spatial: the stride
    only (BENCHMARKS.md, early candidates), both for the defaults and the presets."""
    assert SELECT_FIRST == {"SC": 9, "ST": 0}
    assert default_config("SC").select_first == 9
    assert default_config("ST").select_first == 0
    for name in preset_names("SC"):
        assert get_preset(name).select_first == 9, name
    for name in preset_names("ST"):
        assert get_preset(name).select_first == 0, name
    assert preset_names("SC") and preset_names("ST")


def test_presets_keep_the_published_hyper_parameters():
    """A hand-checked row of the reference table (151507: DLPFC)."""
    cfg = get_preset("151507")
    assert (cfg.hvg, cfg.k, cfg.tms, cfg.lambda1, cfg.out_dim, cfg.radius) == (
        3000, 15, (10, 8), 200.0, 7, 50)


def test_the_clustered_embedding_is_h_for_scrnaseq_and_the_published_z_for_spatial():
    """[e1, e2] for scRNA-seq (defaults and presets), the published [z1, z2] for spatial
    slices (BENCHMARKS.md, 'which embedding'); an unknown choice is refused."""
    import pytest

    from scrcl.config import DEFAULT_EMBEDDING, EMBEDDINGS, ScrclConfig

    assert set(EMBEDDINGS) == {"z", "h"}
    assert DEFAULT_EMBEDDING == {"SC": "h", "ST": "z"}
    assert default_config("SC").embedding == ScrclConfig().embedding == "h"
    assert default_config("ST").embedding == "z"
    assert {get_preset(name).embedding for name in preset_names("SC")} == {"h"}
    assert {get_preset(name).embedding for name in preset_names("ST")} == {"z"}
    with pytest.raises(ValueError, match="unknown embedding 'x'"):
        ScrclConfig(embedding="x")


def test_the_fast_schedule_is_a_fifth_of_the_epochs_at_five_times_the_rate():
    """Hand-checked: 151507's published 500 epochs at 1e-4 train 100 epochs at 5e-4 on the
    fast schedule; the scRNA-seq defaults' 500 at 5e-5, 100 at 2.5e-4. Going back gives
    the published values exactly; a hand-made configuration (no schedule) is left alone;
    an unknown schedule is refused."""
    import pytest

    from scrcl.config import DEFAULT_SCHEDULE, ScrclConfig, with_schedule

    assert DEFAULT_SCHEDULE == "published"
    published = get_preset("151507")
    assert (published.epochs, published.lr, published.schedule) == (500, 1e-4, "published")
    fast = with_schedule(published, "fast")
    assert (fast.epochs, fast.lr, fast.schedule) == (100, 5e-4, "fast")
    assert with_schedule(fast, "fast") == fast
    with pytest.raises(ValueError, match="start from the preset"):
        with_schedule(fast, "published")  # 3 -> 1 -> 5: not recovered, refused
    sc = with_schedule(default_config("SC"), "fast")
    assert (sc.epochs, sc.lr) == (100, 2.5e-4)
    assert {with_schedule(get_preset(n), "fast").epochs for n in preset_names()} == {100}
    by_hand = ScrclConfig(epochs=60, lr=1e-3)
    assert by_hand.schedule is None and with_schedule(by_hand, "fast") == by_hand
    assert with_schedule(ScrclConfig(epochs=3, schedule="published"), "fast").epochs == 1
    with pytest.raises(ValueError, match="unknown schedule 'slow'"):
        with_schedule(published, "slow")
    with pytest.raises(ValueError, match="unknown schedule 'slow'"):
        ScrclConfig(schedule="slow")


def test_the_command_line_trains_the_published_schedule_unless_told_fast(monkeypatch):
    """runSC.py / runST.py: the default is the published schedule; --schedule fast trains
    100 epochs at 5x the rate; --protocol oracle (the published protocol) trains the
    published 500 epochs, whatever the default, and refuses --schedule fast; --epochs and
    --lr override the schedule; a configuration of its own (the demo's) refuses
    --schedule."""
    import argparse

    import pytest

    import scrcl.cli.common
    from scrcl.cli.common import add_model_options, add_run_options, config_from_args
    from scrcl.cli.sc import DEMO_CONFIG
    from scrcl.errors import ScrclInputError

    parser = argparse.ArgumentParser()
    add_run_options(parser, "ST")
    add_model_options(parser)
    base = get_preset("151507")

    def cfg(*argv):
        c = config_from_args(base, parser.parse_args(list(argv)))
        return c.epochs, c.lr, c.schedule

    assert cfg() == (500, 1e-4, "published")
    assert cfg("--schedule", "fast") == (100, 5e-4, "fast")
    assert cfg("--protocol", "oracle") == (500, 1e-4, "published")
    assert cfg("--schedule", "fast", "--epochs", "30") == (30, 5e-4, "fast")
    assert cfg("--schedule", "fast", "--lr", "0.01") == (100, 0.01, "fast")
    assert cfg("--lr", "0.01") == (500, 0.01, "published")
    with pytest.raises(ScrclInputError, match="drop --schedule fast"):
        cfg("--protocol", "oracle", "--schedule", "fast")
    monkeypatch.setattr(scrcl.cli.common, "DEFAULT_SCHEDULE", "fast")
    assert cfg() == (100, 5e-4, "fast")  # were the default fast, the oracle stays published
    assert cfg("--protocol", "oracle") == (500, 1e-4, "published")
    base = DEMO_CONFIG  # cfg() reads it from here on
    assert cfg() == (60, 1e-3, None)  # its own epochs and rate, whatever the default
    with pytest.raises(ScrclInputError, match="its own configuration .epochs 60"):
        cfg("--schedule", "fast")


def test_the_python_api_takes_the_schedule_as_the_command_line(monkeypatch):
    """scrcl.tl.cluster_cells / spatial_domains: ``schedule`` puts the defaults or the preset
    on it before they are fitted to the data (the configuration given to training is
    captured, nothing trains); 'oracle' refuses 'fast'; a given config refuses a schedule."""
    import anndata as ad
    import numpy as np
    import pytest

    import scrcl.tl
    from scrcl.data.synthetic import synthetic_counts
    from scrcl.errors import ScrclInputError

    seen = []
    monkeypatch.setattr(scrcl.tl, "fit", lambda adata, prepared, **kw: seen.append(kw["config"]))
    adata = synthetic_counts(n_cells=80, n_genes=100, n_types=3, seed=2)
    scrcl.tl.cluster_cells(adata.copy(), n_clusters=3, schedule="fast")
    scrcl.tl.cluster_cells(adata.copy(), n_clusters=3)
    assert [(c.epochs, c.lr, c.schedule) for c in seen] == [(100, 2.5e-4, "fast"),
                                                             (500, 5e-5, "published")]
    expressed = int((np.asarray(adata.X.sum(0)).ravel() > 0).sum())
    assert seen[0].hvg == expressed < 2000  # fitted to the data after the schedule
    spots = ad.AnnData(np.random.default_rng(0).normal(size=(60, 20)).astype("float32"))
    spots.obsm["spatial"] = np.random.default_rng(1).uniform(size=(60, 2)) * 100
    scrcl.tl.spatial_domains(spots, n_clusters=3, preset="151507", schedule="fast")
    assert (seen[-1].epochs, seen[-1].lr, seen[-1].preset) == (100, 5e-4, "151507")
    with pytest.raises(ScrclInputError, match="leave schedule out"):
        scrcl.tl.cluster_cells(adata.copy(), n_clusters=3, protocol="oracle", schedule="fast")
    with pytest.raises(ScrclInputError, match="a given config is used as it is"):
        scrcl.tl.cluster_cells(adata.copy(), n_clusters=3, config=default_config("SC"),
                               schedule="fast")
    with pytest.raises(ScrclInputError, match="unknown schedule 'slow'"):
        scrcl.tl.cluster_cells(adata.copy(), n_clusters=3, schedule="slow")
