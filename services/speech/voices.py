"""Voice embeddings: who is speaking, as a 256-d unit vector per stretch of audio.

The encoder is Resemblyzer's pretrained speaker encoder (a GE2E-trained 3-layer LSTM, Apache-2.0), whose
weights ship inside the ``resemblyzer`` wheel (``resemblyzer/pretrained.pt``): nothing is downloaded. The
package is installed without its dependencies (``requirements/no-deps.txt``): its ``__init__`` imports librosa
and webrtcvad, which Sightline does not need, so the weights file is located without importing the package
and the network and its 40-channel mel features are rebuilt here (torch and numpy only).
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

SAMPLE_RATE = 16_000
#: Mel features of the encoder: 25 ms windows every 10 ms, 40 channels (Resemblyzer's hparams).
N_FFT = 400
HOP = 160
N_MELS = 40
#: Frames the encoder was trained on (1.6 s); shorter stretches are embedded as they are.
PARTIAL_FRAMES = 160
EMBEDDING_SIZE = 256

Vectors = NDArray[np.float32]


class VoiceEncoderMissing(RuntimeError):
    """The resemblyzer package (and so its weights) is not installed."""


def weights_path() -> Path:
    """``pretrained.pt`` inside the installed resemblyzer package, found without importing it."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise VoiceEncoderMissing(
            "the resemblyzer package is not installed: pip install --no-deps -r requirements/no-deps.txt"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise VoiceEncoderMissing(f"resemblyzer is installed but {path} is missing")
    return path


def _hz_to_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: NDArray[np.float64]) -> NDArray[np.float64]:
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


@cache
def mel_filters(rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> NDArray[np.float64]:
    """Triangular mel filterbank with Slaney area normalisation, shape (n_mels, n_fft // 2 + 1)."""
    fft_hz = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(rate / 2.0)), n_mels + 2))
    gaps = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / gaps[:-1, None]
    upper = ramps[2:] / gaps[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]


def mel_frames(audio: NDArray[np.float32]) -> NDArray[np.float32]:
    """Power mel spectrogram, shape (frames, 40): frame i is centred on sample i * HOP (as librosa pads)."""
    padded = np.pad(audio.astype(np.float64), N_FFT // 2)
    count = 1 + max(0, (len(padded) - N_FFT) // HOP)
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as scipy/librosa use
    power = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2
    return (power @ mel_filters().T).astype(np.float32)


class _Network(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, EMBEDDING_SIZE)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / torch.clamp(torch.norm(raw, dim=1, keepdim=True), min=1e-12)


class VoiceEncoder:
    """Embeds stretches of 16 kHz audio; load once (about 17 MB of weights), thread-safe."""

    name = "resemblyzer-ge2e"

    def __init__(self) -> None:
        checkpoint = torch.load(weights_path(), map_location="cpu", weights_only=True)
        state = {k: v for k, v in checkpoint["model_state"].items() if not k.startswith("similarity_")}
        self._net = _Network()
        self._net.load_state_dict(state)
        self._net.eval()
        self._lock = threading.Lock()
        self.version = f"{self.name}-{version('resemblyzer')}"

    def embed(self, stretches: list[NDArray[np.float32]]) -> Vectors:
        """One unit vector per stretch of audio (each at most a few seconds; longer ones are cut into
        1.6 s partials whose embeddings are averaged, as Resemblyzer does for an utterance)."""
        if not stretches:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        out = np.zeros((len(stretches), EMBEDDING_SIZE), dtype=np.float32)
        batches: dict[int, list[tuple[int, NDArray[np.float32]]]] = {}
        for i, audio in enumerate(stretches):
            mels = mel_frames(audio)
            step = PARTIAL_FRAMES // 2
            starts = range(0, max(1, len(mels) - PARTIAL_FRAMES + step), step) if len(mels) > PARTIAL_FRAMES else [0]
            for s in starts:
                part = mels[s : s + PARTIAL_FRAMES]
                batches.setdefault(len(part), []).append((i, part))
        sums = np.zeros_like(out)
        with self._lock, torch.no_grad():
            for items in batches.values():
                vectors = self._net(torch.from_numpy(np.stack([m for _, m in items]))).numpy()
                for (i, _), vector in zip(items, vectors, strict=True):
                    sums[i] += vector
        norms = np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        out[:] = sums / norms
        return out


__all__ = ["VoiceEncoder", "VoiceEncoderMissing", "mel_filters", "mel_frames", "weights_path"]
