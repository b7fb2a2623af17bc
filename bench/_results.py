"""The stored results: one small JSON file per entry,
``<root>/<suite>/<dataset>/<method>[__<variant>]/<protocol>/seed<S>.json``, written
atomically. A variant names the settings changed from the defaults (``precision-fp32``,
``features-lognorm``...), so that a comparison run never overwrites the default's entry."""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Key:
    """One entry: the unit of work and of storage."""

    suite: str
    dataset: str
    method: str
    protocol: str
    seed: int
    variant: str = ""  # '' for the defaults, else e.g. 'precision-fp32__features-lognorm'

    @property
    def folder(self) -> str:
        return f"{self.method}__{self.variant}" if self.variant else self.method

    def path(self, root: Path) -> Path:
        return (Path(root) / self.suite / self.dataset / self.folder / self.protocol
                / f"seed{self.seed}.json")


def input_hash(inputs: dict) -> str:
    """sha256 of the canonical JSON of everything that changes a result."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_entry(path: Path) -> Optional[dict]:
    """The stored entry, or None when there is none (or it cannot be read)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def is_current(key: Key, root: Path, wanted_hash: str) -> bool:
    stored = read_entry(key.path(root))
    return stored is not None and stored.get("input_hash") == wanted_hash


def write_entry(key: Key, root: Path, entry: dict) -> Path:
    """Write atomically (temporary file, then rename); returns the path."""
    from scrcl.io import write_json

    path = key.path(root)
    write_json(path, entry)
    return path


def iter_entries(root: Path, suite: Optional[str] = None) -> Iterator[dict]:
    """Every stored entry under ``root`` (of one suite), in path order; other JSON files
    whose names start with 'seed' (a study's own records) are not entries and are skipped."""
    base = Path(root) / suite if suite else Path(root)
    for path in sorted(base.glob("**/seed*.json")):
        entry = read_entry(path)
        if isinstance(entry, dict) and "suite" in entry and "method" in entry:
            yield entry


def pack_labels(labels) -> str:
    """A label vector (ints >= 0) as compact text: '<dtype>:' + base64 of its zlib-packed
    bytes (a 4,000-spot partition takes a few hundred characters)."""
    import numpy as np

    labels = np.asarray(labels)
    dtype = "u1" if labels.max(initial=0) < 256 else "u4"
    raw = labels.astype(dtype).tobytes()
    return f"{dtype}:" + base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def unpack_labels(text: str):
    """The label vector :func:`pack_labels` packed, as int64."""
    import numpy as np

    dtype, _, data = text.partition(":")
    raw = zlib.decompress(base64.b64decode(data))
    return np.frombuffer(raw, dtype=dtype).astype(np.int64)
