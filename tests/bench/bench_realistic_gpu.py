"""`bench_realistic`'s scenarios with vision and speech on CUDA, and the same table; skipped without a GPU.

The frames stage decodes on the CPU either way (the stage has no NVDEC path yet), so its row and its floor are
the CPU's. The same ``SIGHTLINE_BENCH_REALISTIC_*`` variables set the load.
"""

from __future__ import annotations

import sys
from typing import Any

from services.common.settings import Settings
from tests.bench import bench_realistic

HEADLINE = ("skipped", *bench_realistic.HEADLINE)


def cuda_missing() -> str | None:
    """Why the GPU scenarios cannot run here, or None when torch and CTranslate2 both see a CUDA device."""
    import ctranslate2
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device visible to torch (vision)"
    if ctranslate2.get_cuda_device_count() < 1:
        return "no CUDA device visible to CTranslate2 (speech)"
    return None


async def run(stack: Settings) -> dict[str, Any]:
    reason = cuda_missing()
    if reason is not None:
        print(f"bench realistic_gpu: skipped: {reason}", file=sys.stderr, flush=True)
        return {"skipped": reason}
    return await bench_realistic.run_scenarios(stack, "cuda")
