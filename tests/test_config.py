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
    assert with_schedule(fast, "published") == published
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


def test_the_command_line_trains_the_published_schedule_unless_told_fast():
    """runSC.py / runST.py: the default is the published schedule; --schedule fast trains
    100 epochs at 5x the rate, except under --protocol oracle (the published protocol),
    which trains the published 500 epochs unless --schedule says otherwise; --epochs and
    --lr override the schedule."""
    import argparse

    from scrcl.cli.common import add_model_options, add_run_options, config_from_args

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
    assert cfg("--protocol", "oracle", "--schedule", "fast") == (100, 5e-4, "fast")
    assert cfg("--schedule", "fast", "--epochs", "30") == (30, 5e-4, "fast")
    assert cfg("--lr", "0.01") == (500, 0.01, "published")
