"""How many CPU threads a model replica's torch uses (shared by every kind of model)."""

from __future__ import annotations

import os

import torch


def set_torch_threads(requested: int | None = None) -> None:
    """Intra-op threads of this replica: ``requested``, else Ray's OMP_NUM_THREADS (set
    from the actor's num_cpus), which torch does not read once it is already imported."""
    threads = requested or int(os.environ.get("OMP_NUM_THREADS") or 0)
    if threads:
        torch.set_num_threads(threads)
