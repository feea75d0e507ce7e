"""RetinaFace with a MobileNet-0.25 backbone: face boxes, scores and 5 landmarks in one forward pass.

The layer layout matches the published checkpoint (``mobilenet0.25_Final.pth``), so its state dict
loads by name. Anchors are generated with tensor operations once per input size and cached; decoding
(of the anchors above the score threshold only) and non-maximum suppression run batched (torchvision's
``batched_nms``), so a batch of frames costs its forward passes plus one NMS call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms

from services.vision.inference import passes, prepare

#: BGR channel means subtracted before the network (the checkpoint was trained on raw 0-255 BGR).
BGR_MEAN = (104.0, 117.0, 123.0)
_MIN_SIZES = ((16, 32), (64, 128), (256, 512))
_STEPS = (8, 16, 32)
_VARIANCE = (0.1, 0.2)


def _conv_bn(inp: int, out: int, stride: int, leaky: float = 0.0, kernel: int = 3, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(inp, out, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out),
    ]
    if act:
        layers.append(nn.LeakyReLU(negative_slope=leaky, inplace=True))
    return nn.Sequential(*layers)


def _conv_dw(inp: int, out: int, stride: int) -> nn.Sequential:
    """Depthwise-separable block: 3x3 per channel, then 1x1 across channels."""
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp),
        nn.LeakyReLU(negative_slope=0.1, inplace=True),
        nn.Conv2d(inp, out, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out),
        nn.LeakyReLU(negative_slope=0.1, inplace=True),
    )


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv_bn(3, 8, 2, leaky=0.1),
            _conv_dw(8, 16, 1),
            _conv_dw(16, 32, 2),
            _conv_dw(32, 32, 1),
            _conv_dw(32, 64, 2),
            _conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(_conv_dw(64, 128, 2), *[_conv_dw(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(_conv_dw(128, 256, 2), _conv_dw(256, 256, 1))

    def forward(self, x: Tensor) -> list[Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        c3 = self.stage3(c2)
        return [c1, c2, c3]


class _FPN(nn.Module):
    def __init__(self, channels: tuple[int, int, int], out: int) -> None:
        super().__init__()
        self.output1 = _conv_bn(channels[0], out, 1, leaky=0.1, kernel=1)
        self.output2 = _conv_bn(channels[1], out, 1, leaky=0.1, kernel=1)
        self.output3 = _conv_bn(channels[2], out, 1, leaky=0.1, kernel=1)
        self.merge1 = _conv_bn(out, out, 1, leaky=0.1)
        self.merge2 = _conv_bn(out, out, 1, leaky=0.1)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
        return [o1, o2, o3]


class _SSH(nn.Module):
    """Context module: parallel 3x3, 5x5 and 7x7 receptive fields (stacked 3x3 convolutions)."""

    def __init__(self, inp: int, out: int) -> None:
        super().__init__()
        self.conv3X3 = _conv_bn(inp, out // 2, 1, act=False)
        self.conv5X5_1 = _conv_bn(inp, out // 4, 1, leaky=0.1)
        self.conv5X5_2 = _conv_bn(out // 4, out // 4, 1, act=False)
        self.conv7X7_2 = _conv_bn(out // 4, out // 4, 1, leaky=0.1)
        self.conv7x7_3 = _conv_bn(out // 4, out // 4, 1, act=False)

    def forward(self, x: Tensor) -> Tensor:
        mid = self.conv5X5_1(x)
        out: Tensor = F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(mid), self.conv7x7_3(self.conv7X7_2(mid))], 1))
        return out


class _Head(nn.Module):
    def __init__(self, inp: int, per_anchor: int, anchors: int = 2) -> None:
        super().__init__()
        self.per_anchor = per_anchor
        self.conv1x1 = nn.Conv2d(inp, anchors * per_anchor, 1)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.per_anchor)


class RetinaFaceNet(nn.Module):
    """Outputs per anchor: box offsets (4), face/background logits (2), landmark offsets (10)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _Backbone()
        self.fpn = _FPN((64, 128, 256), 64)
        self.ssh1, self.ssh2, self.ssh3 = _SSH(64, 64), _SSH(64, 64), _SSH(64, 64)
        self.ClassHead = nn.ModuleList([_Head(64, 2) for _ in range(3)])
        self.BboxHead = nn.ModuleList([_Head(64, 4) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([_Head(64, 10) for _ in range(3)])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        fpn = self.fpn(self.body(x))
        feats = [self.ssh1(fpn[0]), self.ssh2(fpn[1]), self.ssh3(fpn[2])]
        boxes = torch.cat([h(f) for h, f in zip(self.BboxHead, feats, strict=True)], 1)
        logits = torch.cat([h(f) for h, f in zip(self.ClassHead, feats, strict=True)], 1)
        # The face probability of a two-way softmax, without its slow path for a last dimension of 2.
        scores = torch.sigmoid(logits[..., 1] - logits[..., 0])
        landmarks = torch.cat([h(f) for h, f in zip(self.LandmarkHead, feats, strict=True)], 1)
        return boxes, scores, landmarks


def load_retinaface(weights: str, device: torch.device) -> RetinaFaceNet:
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = RetinaFaceNet()
    net.load_state_dict(state, strict=True)
    return prepare(net, device)


@lru_cache(maxsize=16)
def _anchors(height: int, width: int) -> Tensor:
    """(N, 4) anchors cx, cy, w, h in fractions of the input, in the order the heads emit them."""
    parts = []
    for step, sizes in zip(_STEPS, _MIN_SIZES, strict=True):
        rows, cols = -(-height // step), -(-width // step)
        cy, cx = torch.meshgrid(
            (torch.arange(rows, dtype=torch.float32) + 0.5) * step / height,
            (torch.arange(cols, dtype=torch.float32) + 0.5) * step / width,
            indexing="ij",
        )
        per_size = [
            torch.stack([cx, cy, torch.full_like(cx, s / width), torch.full_like(cy, s / height)], -1) for s in sizes
        ]
        parts.append(torch.stack(per_size, 2).reshape(-1, 4))
    return torch.cat(parts, 0)


@dataclass(frozen=True)
class Detections:
    """Faces of one image, best score first, in pixels of the image given to `detect`."""

    boxes: npt.NDArray[np.float32]  # (n, 4) x0, y0, x1, y1
    scores: npt.NDArray[np.float32]  # (n,)
    landmarks: npt.NDArray[np.float32]  # (n, 5, 2): right eye, left eye (image left/right), nose, mouth corners


@torch.inference_mode()
def detect(
    net: RetinaFaceNet,
    images: Tensor,
    min_score: float,
    nms_iou: float = 0.4,
    max_faces: int = 16,
) -> list[Detections]:
    """Faces in a batch of BGR images (B, H, W, 3) of 0-255 values already on the model's device."""
    batch, height, width = images.shape[0], images.shape[1], images.shape[2]
    param = next(net.parameters())
    mean = torch.tensor(BGR_MEAN, device=images.device, dtype=param.dtype)
    # HWC images seen as CHW are already in the channels-last layout the network runs in: no copy.
    outputs = (net((part.to(param.dtype) - mean).permute(0, 3, 1, 2)) for part in passes(images))
    loc, scores, landm = (torch.cat(parts).float() for parts in zip(*outputs, strict=True))
    # Only the few anchors above the threshold are decoded.
    keep_b, keep_a = torch.nonzero(scores > min_score, as_tuple=True)
    anchors = _anchors(height, width).to(images.device)[keep_a]
    loc, landm, scores = loc[keep_b, keep_a], landm[keep_b, keep_a].reshape(-1, 5, 2), scores[keep_b, keep_a]
    centre = anchors[:, :2] + loc[:, :2] * _VARIANCE[0] * anchors[:, 2:]
    size = anchors[:, 2:] * torch.exp(loc[:, 2:] * _VARIANCE[1])
    scale = torch.tensor([width, height], device=images.device, dtype=torch.float32)
    boxes = torch.cat([centre - size / 2, centre + size / 2], -1) * scale.repeat(2)
    points = (anchors[:, None, :2] + landm * _VARIANCE[0] * anchors[:, None, 2:]) * scale
    kept = batched_nms(boxes, scores, keep_b, nms_iou)  # best score first
    frame_of = keep_b[kept].cpu().numpy()
    all_boxes, all_scores, all_points = (t[kept].cpu().numpy() for t in (boxes, scores, points))
    out = []
    for b in range(batch):
        idx = np.flatnonzero(frame_of == b)[:max_faces]
        out.append(Detections(all_boxes[idx], all_scores[idx], all_points[idx]))
    return out


__all__ = ["BGR_MEAN", "Detections", "RetinaFaceNet", "detect", "load_retinaface"]
