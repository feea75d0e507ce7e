"""Preparing the networks for inference.

Both networks are stacks of convolution, batch norm and activation. In eval mode a batch norm is an affine
map per channel, so it folds exactly into the convolution before it: one pass over the activations less
per layer. Channels-last memory (NHWC) is the layout oneDNN's CPU kernels and CUDA's tensor cores work in;
with NCHW every convolution reorders its input and output. Together they make the detector about 1.7 times
faster on batches of 256-pixel frames on a CPU (1.3 times on single 640-pixel frames); outputs are unchanged
up to float rounding.
"""

from __future__ import annotations

import ctypes
from typing import TypeVar

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

Net = TypeVar("Net", bound=nn.Module)

#: Most images in one forward pass on a CPU. Larger passes gain nothing there, and their activations (tens of MB)
#: are returned to the kernel after every pass and faulted in again on the next: a batch of 64 expression crops
#: costs about 1.7 times as much in one pass as in four.
CPU_PASS = 16


def passes(batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``batch`` in forward passes: of `CPU_PASS` images on a CPU, whole on a GPU."""
    return torch.split(batch, CPU_PASS if batch.device.type == "cpu" else max(1, len(batch)))


#: glibc's mallopt parameters and the values `keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest
_TRIM_THRESHOLD = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Make the C allocator keep freed blocks for reuse instead of returning them to the kernel (process-wide).

    By default glibc maps every block above a threshold (from 128 KB, raised as such blocks are freed) separately and
    unmaps it when freed, and trims the heap's free top: the activations of each forward pass on a CPU, a few MB per
    layer, are then faulted in page by page again on every pass. Served from a heap that keeps them, a batch costs
    about a tenth less CPU time. Memory then stays at its peak (tens of MB per batch thread). Returns whether the
    allocator took the settings (only glibc has them)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # The mmap threshold first: setting the trim threshold alone also freezes it at its 128 KB start.
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def fold_batch_norms(net: Net) -> Net:
    """Replace every Conv2d directly followed by a BatchNorm2d in a Sequential by one convolution (in place)."""
    net.eval()
    for module in net.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[i] = fuse_conv_bn_eval(conv, norm)
                module[i + 1] = nn.Identity()
    return net


def prepare(net: Net, device: torch.device) -> Net:
    """``net`` with its batch norms folded, in eval mode, on ``device``, its convolution weights channels-last."""
    fold_batch_norms(net).to(device)
    for param in net.parameters():
        if param.dim() == 4:
            param.data = param.data.contiguous(memory_format=torch.channels_last)
    return net


__all__ = ["CPU_PASS", "fold_batch_norms", "keep_freed_memory", "passes", "prepare"]
