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
