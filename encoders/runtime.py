"""Torch runtime settings the encoders need: bounded threads and deterministic, seeded execution.

Both are context managers that restore the caller's settings, so the package never leaves global torch
state changed behind it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Bound torch's intra-op threads, restoring the caller's setting afterwards.

    On a shared 2-core machine one thread is often much *faster* than two: OpenMP threads spin-wait on
    a core another process is using (measured: small ops 20-80x slower, training steps ~6x slower).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def deterministic_torch(seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic torch with a bounded thread count, restoring the caller's settings afterwards."""
    previous_flag = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        with torch_threads(threads):
            yield
    finally:
        torch.use_deterministic_algorithms(previous_flag)
