"""Shared test set-up: one torch thread per test process (pytest -n 2 uses both cores), fixed seeds. Shared
builders (tiny agents and runs, random batches) are in scaffold.py; tests that train are marked ``slow``."""

import random

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
