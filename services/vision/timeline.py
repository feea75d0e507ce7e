"""The per-frame timeline of a chunk as a Parquet object (one row per analysed frame).

Columns: ``pts_s`` (media time), ``faces`` (faces counted), ``face_search`` (``whole``: the frame was
searched for faces; ``window``: only around the face its key frames showed, see `services.vision.tracking`),
``face_score``, ``box`` ([x0, y0, x1, y1] as fractions of the frame), ``landmarks`` (10 values: x, y of the
eyes, nose tip and mouth corners, as fractions), ``yaw_deg``, ``pitch_deg``, ``roll_deg`` (contract sign
convention), ``sight_yaw_deg``, ``sight_pitch_deg`` (the head against the line of sight: 0 looks into the lens),
``face_followed`` (no face was detected but the face mesh followed it, see `services.vision.follow`: its
``sight_yaw_deg`` is the mesh's, the other angles are null), ``eye_contact``, ``looking_away``, ``motion_energy``
(0-1, null on a chunk's first frame), ``brightness`` (0-1), ``sharpness`` (variance of the Laplacian). Only when
emotion inference was performed: ``smile_intensity``, ``frowning`` and ``p_<expression>`` per class. Null where no
face was found.

From the face mesh (`services.vision.landmarks`), null where it did not measure the face: ``eye_openness`` (eye
aspect ratio), ``eyes_closed``, ``mouth_opening`` (inner-lip gap over face height), and only with emotion
inference ``brow_height``, ``mouth_width``, ``mouth_corner_lift``; ``mesh_too_small`` (the face was too small in
the picture for the mesh).
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

TIMELINE_CONTENT_TYPE = "application/vnd.apache.parquet"
TIMELINE_FORMAT = "parquet-vision-timeline-v1"

_TYPES: dict[str, pa.DataType] = {
    "pts_s": pa.float64(),
    "faces": pa.int16(),
    "face_search": pa.string(),
    "face_followed": pa.bool_(),
    "face_score": pa.float32(),
    "box": pa.list_(pa.float32(), 4),
    "landmarks": pa.list_(pa.float32(), 10),
    "yaw_deg": pa.float32(),
    "pitch_deg": pa.float32(),
    "roll_deg": pa.float32(),
    "sight_yaw_deg": pa.float32(),
    "sight_pitch_deg": pa.float32(),
    "eye_contact": pa.bool_(),
    "looking_away": pa.bool_(),
    "motion_energy": pa.float32(),
    "brightness": pa.float32(),
    "sharpness": pa.float32(),
    "smile_intensity": pa.float32(),
    "frowning": pa.bool_(),
    # face mesh (services/vision/face_measures.py); its measures are float32 like every column not named here
    "eyes_closed": pa.bool_(),
    "mesh_too_small": pa.bool_(),
}


def encode_timeline(columns: dict[str, list[object]], metadata: dict[str, str] | None = None) -> bytes:
    arrays = {name: pa.array(values, type=_TYPES.get(name, pa.float32())) for name, values in columns.items()}
    table = pa.table(arrays).replace_schema_metadata({"format": TIMELINE_FORMAT, **(metadata or {})})
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return bytes(out.getvalue())


def read_timeline(data: bytes) -> pa.Table:
    table: pa.Table = pq.read_table(io.BytesIO(data))
    return table


__all__ = ["TIMELINE_CONTENT_TYPE", "TIMELINE_FORMAT", "encode_timeline", "read_timeline"]
