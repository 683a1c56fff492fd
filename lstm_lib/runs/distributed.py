"""Data-parallel training on PyTorch's own engine, launched by ``torchrun``.

``torchrun --nproc-per-node N -m lstm_lib train ...`` starts N processes (ranks),
each with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in its environment.
Each rank trains on its own block of the parallel streams (the columns of the
batchified text), carries its own (H, C) from window to window, and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients
after every backward pass, so every rank takes the same optimizer step as one
process training on all the streams would. The gradient norm is then measured on
the averaged gradients: clipping is on the global norm. Validation sums NLL and
character counts over all ranks. Only rank 0 writes checkpoints, holding the
states of every rank's streams, so a run can be resumed with any number of
processes that divides the batch.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import UsageError


@dataclass(frozen=True)
class World:
    """Where this process stands: rank ``rank`` of ``size`` (``size`` 1: not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that prints and saves."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init(device: torch.device) -> World:
    """Join the process group torchrun set up (gloo on CPUs, NCCL on GPUs).

    Returns :data:`SINGLE` when not launched by torchrun, or with one process.
    """
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return SINGLE
    world = World(
        int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    )
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return world


def device_for(world: World, device: torch.device) -> torch.device:
    """Each rank on a node gets its own GPU; CPU ranks share the CPU."""
    if device.type == "cuda" and world.distributed:
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


def shard_streams(data: torch.Tensor, world: World, dim: int = 1) -> torch.Tensor:
    """This rank's block of the streams: the columns of ``(rows, batch)`` data
    (``dim=1``), or the batch entries of a ``(layers, batch, hidden)`` state."""
    if not world.distributed:
        return data
    batch = data.shape[dim]
    if batch % world.size:
        raise UsageError(
            f"batch_size {batch} does not split evenly over {world.size} processes; "
            f"use a multiple of {world.size}",
            "batch_size",
        )
    width = batch // world.size
    return data.narrow(dim, world.rank * width, width).contiguous()


def gather_streams(local: torch.Tensor, world: World, dim: int = 1) -> torch.Tensor:
    """The inverse of :func:`shard_streams`: every rank's block, joined along ``dim``
    (a collective: every rank must call it)."""
    if not world.distributed:
        return local
    parts = [torch.empty_like(local) for _ in range(world.size)]
    dist.all_gather(parts, local.contiguous())
    return torch.cat(parts, dim=dim)


def sum_over_ranks(*numbers: float, world: World, device="cpu") -> list[float]:
    """Each number summed over all ranks."""
    if not world.distributed:
        return list(numbers)
    values = torch.tensor(numbers, dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return values.tolist()


def gather_objects(obj, world: World) -> list:
    """``obj`` from every rank, in rank order (on every rank)."""
    if not world.distributed:
        return [obj]
    objects = [None] * world.size
    dist.all_gather_object(objects, obj)
    return objects


def wrap(model, world: World, device: torch.device):
    """The module that training calls: ``model`` itself, or its DDP wrapper."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
