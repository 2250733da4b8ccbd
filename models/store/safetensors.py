"""Safetensors headers read and checked without torch: a truncated, padded or overwritten weight
file is named before a loader trips over it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from base.errors import ModelError

_MAX_HEADER_BYTES = 100 * 1024 * 1024

# Bytes per element of the safetensors dtypes (sub-byte types are checked by offsets only).
DTYPE_BYTES = (
    ("F64", 8), ("I64", 8), ("U64", 8), ("F32", 4), ("I32", 4), ("U32", 4),
    ("F16", 2), ("BF16", 2), ("I16", 2), ("U16", 2),
    ("I8", 1), ("U8", 1), ("BOOL", 1), ("F8_E4M3", 1), ("F8_E5M2", 1), ("F8_E8M0", 1),
)


def read_safetensors_header(path: Path) -> dict:
    """Parse and check a safetensors header; ModelError saying what is wrong with the file."""
    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise _damaged(name, f"only {size} bytes long")
            header_len = int.from_bytes(head, "little")
            if header_len > _MAX_HEADER_BYTES or header_len > size - 8:
                raise _damaged(name, "its header length is impossible; the file is truncated "
                                     "or not a safetensors file")
            raw = fh.read(header_len)
    except OSError as exc:
        raise ModelError(f"The weight file {name} cannot be read ({exc.strerror or exc}).",
                         "Check the file's permissions, or download the model again.") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(name, "its header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise _damaged(name, "its header is not a JSON object")
    data_len = size - 8 - header_len
    _check_tensor_table(name, header, data_len)
    return header


def _check_tensor_table(name: str, header: dict, data_len: int) -> None:
    dtype_bytes = dict(DTYPE_BYTES)
    covered = 0
    max_end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not (isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list)
                and len(entry["data_offsets"]) == 2 and isinstance(entry.get("shape"), list)):
            raise _damaged(name, f"the entry for tensor {key!r} is malformed")
        begin, end = entry["data_offsets"]
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            raise _damaged(name, f"tensor {key!r} has invalid offsets")
        if end > data_len:
            raise _damaged(name, f"it is truncated: tensor {key!r} ends at byte {end} but the "
                                 f"file holds only {data_len} bytes of data")
        per = dtype_bytes.get(str(entry.get("dtype")))
        if per is not None and all(isinstance(d, int) and d >= 0 for d in entry["shape"]):
            if math.prod(entry["shape"]) * per != end - begin:
                raise _damaged(name, f"tensor {key!r} has the wrong number of bytes for its shape")
        covered += end - begin
        max_end = max(max_end, end)
    if max_end != data_len or covered != data_len:
        raise _damaged(name, f"its tensors cover {covered} bytes but the file holds {data_len} "
                             "bytes of data (truncated, padded or overwritten)")


def _damaged(name: str, why: str) -> ModelError:
    return ModelError(f"The weight file {name} is damaged: {why}.",
                      "Download the model again (screensight models download ID), "
                      "or replace the file.",
                      "Download the model again, or choose another folder, in its setup window "
                      "(ScreenSight menu).")
