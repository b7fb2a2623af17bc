"""Shared pytest set-up: the `slow` marker, and one thread per torch process so that tests
behave the same on a busy 2-core machine."""
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs of the scripts on real data "
                                       "(skip locally with -m 'not slow'; CI runs them)")


torch.set_num_threads(1)
