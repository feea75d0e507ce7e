"""Seven-class facial expression classifier on 48x48 grey face crops.

The layer layout matches the checkpoint shipped in the PyEmotion wheel (``model/main_model.pkl``, key
``network``), so its state dict loads by name. The network ends in independent sigmoids that saturate;
`probabilities` rescales them to sum to one and the chunk features smooth them over time.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from services.vision.inference import passes, prepare

#: Output order of the checkpoint, renamed to the contract's codes.
CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
INPUT_SIDE = 48
#: Crops are widened around the detector's box: the classifier was trained on looser face crops.
CROP_MARGIN = 0.1


def _block(inp: int, out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ReflectionPad2d(1),
        nn.Conv2d(inp, out, 3, stride, 0),
        nn.BatchNorm2d(out),
        nn.ReLU(inplace=True),
    )


class ExpressionNet(nn.Module):
    def __init__(self, width: int = 32, classes: int = len(CLASSES)) -> None:
        super().__init__()
        self.conv_1 = _block(1, width, 1)
        self.conv_2 = _block(width, 2 * width, 2)
        self.conv_3 = _block(2 * width, 4 * width, 2)
        self.conv_4 = _block(4 * width, 8 * width, 2)
        self.linear = nn.Sequential(
            nn.Linear(8 * width * 6 * 6, 256), nn.ReLU(inplace=True), nn.Linear(256, classes), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_4(self.conv_3(self.conv_2(self.conv_1(x))))
        out: Tensor = self.linear(x.flatten(1))
        return out


def load_expression(weights: str, device: torch.device) -> ExpressionNet:
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    net = ExpressionNet()
    net.load_state_dict(checkpoint["network"], strict=True)
    return prepare(net, device)


def face_crop(grey: npt.NDArray[np.uint8], box: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The 48x48 grey crop of a face box (x0, y0, x1, y1 in the grey image's pixels)."""
    h, w = grey.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = (x1 - x0) * CROP_MARGIN, (y1 - y0) * CROP_MARGIN
    xa, ya = max(0, int(x0 - mx)), max(0, int(y0 - my))
    xb, yb = min(w, int(x1 + mx) + 1), min(h, int(y1 + my) + 1)
    if xb - xa < 2 or yb - ya < 2:
        return np.zeros((INPUT_SIDE, INPUT_SIDE), np.uint8)
    crop = cv2.resize(grey[ya:yb, xa:xb], (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
    return np.asarray(crop, dtype=np.uint8)


@torch.inference_mode()
def probabilities(net: ExpressionNet, crops: npt.NDArray[np.uint8], device: torch.device) -> npt.NDArray[np.float32]:
    """(n, 7) probabilities for n grey 48x48 crops, rows summing to one."""
    if len(crops) == 0:
        return np.zeros((0, len(CLASSES)), np.float32)
    param = next(net.parameters())
    x = torch.from_numpy(crops).to(device=device, dtype=param.dtype).unsqueeze(1) / 127.5 - 1.0
    scores = torch.cat([net(part) for part in passes(x)]).float().clamp_min(1e-6)
    return np.asarray((scores / scores.sum(1, keepdim=True)).cpu().numpy(), dtype=np.float32)


__all__ = ["CLASSES", "INPUT_SIDE", "ExpressionNet", "face_crop", "load_expression", "probabilities"]
