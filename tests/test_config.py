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


def test_the_clustered_embedding_defaults_to_the_published_one():
    """[z1, z2] unless asked otherwise, everywhere; an unknown choice is refused."""
    import pytest

    from scrcl.config import EMBEDDINGS, ScrclConfig

    assert set(EMBEDDINGS) == {"z", "h"}
    assert default_config("SC").embedding == default_config("ST").embedding == "z"
    assert all(get_preset(name).embedding == "z" for name in preset_names())
    with pytest.raises(ValueError, match="unknown embedding 'x'"):
        ScrclConfig(embedding="x")
