"""AnnData key names and other constants, in one place."""

KEY_ADDED = "scrcl"  # obs[KEY_ADDED]: the seeds' consensus clusters; uns[KEY_ADDED]: run record
EMBEDDING_KEY = "X_scrcl"  # obsm key of the first seed's clustered embedding ([e1, e2] or [z1, z2])
SEED_KEY = "scrcl_seed{seed}"  # obs key of every seed's clusters
SPATIAL_KEY = "spatial"  # obsm key of spot coordinates
DEFAULT_SC_LABEL_KEY = "cell_type1"
#: three seeds: on the scRNA-seq stand-ins the consensus of five was within 0.004 ARI of the
#: consensus of three (above on two, below on two), and three lift the worst single seed
#: (docs/design/stopping.md, 'How many seeds'); five cost two fifths more time
DEFAULT_SEEDS = (5, 15, 25)
DEFAULT_SEEDS_WHY = ("the default: the consensus of 5 seeds was within 0.004 ARI of the "
                     "consensus of 3 on the scRNA-seq stand-ins")
PROTOCOLS = ("final", "oracle")
DATA_DIR_ENV = "SCRCL_DATA_DIR"
