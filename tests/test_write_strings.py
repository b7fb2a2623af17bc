"""Results written by the scripts load back whatever string dtype pandas gives the names
(pandas 3 makes its string arrays the default; anndata refuses to write them unasked)."""
import anndata as ad
import numpy as np
import pandas as pd

from scrcl.cli.report import _plain_strings


def test_string_arrays_are_written_as_plain_strings(tmp_path):
    adata = ad.AnnData(np.arange(6, dtype=np.float32).reshape(3, 2))
    adata.obs_names = pd.Index(["c1", "c2", "c3"], dtype="string")
    adata.var_names = pd.Index(["g1", "g2"], dtype="string")
    adata.obs["kind"] = pd.array(["x", "y", "x"], dtype="string")
    adata.obs["n"] = [1, 2, 3]
    adata.raw = adata.copy()
    adata.obsm["table"] = pd.DataFrame({"s": pd.array(["a", "b", "c"], dtype="string")},
                                       index=adata.obs_names)
    adata.uns["nested"] = {"frame": pd.DataFrame({"s": pd.array(["u"], dtype="string")})}
    _plain_strings(adata).write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert list(back.obs_names) == ["c1", "c2", "c3"]
    assert list(back.var_names) == ["g1", "g2"]
    assert list(back.obs["kind"]) == ["x", "y", "x"]
    assert list(back.obs["n"]) == [1, 2, 3]
    np.testing.assert_array_equal(back.X, adata.X)
    assert list(back.raw.var_names) == ["g1", "g2"]
    assert list(back.obsm["table"]["s"]) == ["a", "b", "c"]
    assert list(back.uns["nested"]["frame"]["s"]) == ["u"]
