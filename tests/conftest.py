"""Shared fixtures: the real data root (tests needing it skip with a clear message when it is absent)."""

from __future__ import annotations

import pytest

from recordings.datasets import dataset_dir
from recordings.errors import DataNotFoundError


def require_dataset(name: str) -> None:
    """Skip the calling test when a dataset is missing, saying where it was looked for."""
    try:
        dataset_dir(name)
    except DataNotFoundError as exc:
        pytest.skip(f"real data needed: {exc}")


@pytest.fixture(scope="session")
def dsads_recordings():
    require_dataset("dsads")
    from recordings.datasets import load_dsads

    return load_dsads()


@pytest.fixture(scope="session")
def hapt_recordings():
    require_dataset("hapt")
    from recordings.datasets import load_hapt

    return load_hapt()
