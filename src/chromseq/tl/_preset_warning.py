"""The warning a GPU-sized network gives when it starts training on a CPU."""

from __future__ import annotations

from typing import Any

from chromseq._settings import logger
from chromseq.models import ModelConfig

#: Training sequences per second of ``chromtransfer`` on one thread of a loaded 2-core x86 CPU (7-15 measured
#: with ``benchmarks/bench_threads.py --presets chromtransfer`` and ``bench_train.py``): the epoch time quoted.
CHROMTRANSFER_CPU_SEQ_PER_S = 10.0
GPU_PRESET = "chromtransfer"
#: The other families' GPU-sized presets (no CPU speed measured for the estimate: warned without one).
OTHER_GPU_PRESETS = ("dilated", "topic")

_warned: set[str] = set()


def warn_if_gpu_sized(config: ModelConfig, device: Any, n_train: int) -> None:
    """Warn once per process when the GPU network trains on a CPU, with the expected time per epoch.

    The estimate is ``n_train`` / :data:`CHROMTRANSFER_CPU_SEQ_PER_S` (a measured constant, not a
    measurement of this machine: it varies with the CPU and its load).
    """
    preset = getattr(config, "preset", None)
    if getattr(device, "type", str(device)) != "cpu" or preset in _warned:
        return
    if preset in OTHER_GPU_PRESETS:
        _warned.add(preset)
        logger.warning(
            "preset %r is a GPU-sized network and is training on a CPU: expect it to be slow; its CPU size is "
            "%r (docs: model card).",
            preset,
            f"{preset}_fast",
        )
        return
    if preset != GPU_PRESET:
        return
    _warned.add(GPU_PRESET)
    minutes = n_train / CHROMTRANSFER_CPU_SEQ_PER_S / 60
    logger.warning(
        "preset %r is the GPU network and is training on a CPU: expect about %.0f min per epoch for %d training "
        "sequences (~%.0f sequences/s measured on one core of a 2-core CPU); preset='auto' or 'fast' trains the "
        "CPU recipe (about 20x faster).",
        GPU_PRESET,
        minutes,
        n_train,
        CHROMTRANSFER_CPU_SEQ_PER_S,
    )
