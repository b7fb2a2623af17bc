"""Shared pytest set-up: the `slow` marker, and one thread per torch process so that tests
behave the same on a busy 2-core machine (also after a script's main() run in-process,
which sets the threads of the process)."""
import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs of the scripts on real data "
                                       "(skip locally with -m 'not slow'; CI runs them)")


torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield
    torch.set_num_threads(1)
