"""The quality monitor's state on disk: the joiner's snapshot and, in the same file, the
consumer's position on each partition it read.

Both are written together, atomically (a temporary file, fsync, rename), so the file always
holds a state and exactly the messages that made it. A restart loads it and reads on from
those positions: the messages after them are applied once, the ones before never again, and
the figures exported are always those of a saved state, so a crash between two saves shows
no counter going back (the service exports only what it has saved).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "quality-state.json"
WRITE_SLICE = 1 << 20  # characters


class StateError(RuntimeError):
    """The saved state cannot be used; the message says which file and what to do."""


def positions_key(topic: str, partition: int) -> str:
    return f"{partition}@{topic}"


def save(
    folder: Path,
    model: str,
    version: str,
    snapshot: dict[str, Any],
    positions: dict[str, int],
    run_id: str | None = None,
) -> Path:
    """Write the state of `version` (trained by `run_id`: a version number alone names another
    model in another registry) with the positions it was made from."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    partial = folder / f".{STATE_FILE}.partial"
    body = {"model": model, "version": version, "positions": positions, "joiner": snapshot}
    if run_id is not None:
        body["run_id"] = run_id
    # json.dumps, not json.dump: only the one-shot encoder is json's C one (json.dump to a file
    # runs the Python encoder, four to five times slower on a large state). Written a slice at
    # a time, so the encoded bytes never exist whole beside the text.
    text = json.dumps(body, separators=(",", ":"))
    with open(partial, "w", encoding="utf-8") as handle:
        for start in range(0, len(text), WRITE_SLICE):
            handle.write(text[start : start + WRITE_SLICE])
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
    return path


def load(folder: Path, model: str) -> dict[str, Any] | None:
    """The saved state, or None when there is none yet. StateError when the file is not a
    state of this model (it is never overwritten silently: the figures it holds would be
    lost)."""
    path = folder / STATE_FILE
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body["model"] != model:
            raise ValueError(f"it is the state of model {body['model']!r}")
        if not isinstance(body["positions"], dict) or not all(
            isinstance(v, int) and v >= 0 for v in body["positions"].values()
        ):
            raise ValueError("its positions are not offsets")
        if not isinstance(body.get("run_id", ""), str):
            raise ValueError("its run id is not a string")
        body["joiner"]["format"]  # present in every snapshot
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise StateError(
            f"{path}: not a quality state of {model} ({error}); move it away to start "
            "measuring afresh (its figures are then lost)"
        ) from None
    return body
