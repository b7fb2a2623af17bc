"""Shared pytest set-up: the `slow` marker, and one thread per torch process so that tests
behave the same on a busy 2-core machine (also after a script's main() run in-process,
which sets the threads of the process).

NUMBA_NUM_THREADS is fixed for the whole session before numba is imported: numba refuses
a different value once its threads run (scanpy and umap-learn start them), and tests that
set the variable and restore it would otherwise make a later test fail."""
import os

os.environ["NUMBA_NUM_THREADS"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs of the scripts on real data "
                                       "(skip locally with -m 'not slow'; CI runs them)")
    config.addinivalue_line("markers", "docs: the built documentation site in a headless "
                                       "browser (skipped locally when the site or chromium "
                                       "is missing; CI builds and runs it)")


torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield
    torch.set_num_threads(1)
