"""Window embeddings of a frozen embedder, cached per recording in the project's cache/.

Windows lie on the scorer's grid (window k starts at k * hop_s), so training reads the very
windows that scoring sees. A recording's file holds the windows computed so far (sparse:
training embeds only the windows its labels touch), keyed by the recording's content
fingerprint, so a moved file keeps its cache and a changed one does not reuse it.
Files are written atomically; a damaged one is ignored and computed again (cache/ is
disposable, DESIGN.md section 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class WindowEmbeddingCache:
    """cache/embeddings/<embedder>-<sha8>/h<hop ms>/<fingerprint>.npz: `index` int64 [n], `emb` float16 [n, dim]."""

    def __init__(self, cache_root: Path, embedder: str, embedder_sha256: str, hop_s: float):
        tag = f"{embedder}-{embedder_sha256[:8]}" if embedder_sha256 else embedder
        self.folder = Path(cache_root) / "embeddings" / tag / f"h{int(round(hop_s * 1000))}"
        self.hop_s = hop_s

    def _path(self, fingerprint: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in fingerprint)
        return self.folder / f"{safe}.npz"

    def load(self, fingerprint: str) -> dict[int, np.ndarray]:
        """Every cached window of a recording: {window index: float16 [dim]}."""
        if not fingerprint:
            return {}
        try:
            with np.load(self._path(fingerprint)) as data:
                index, emb = data["index"], data["emb"]
        except (FileNotFoundError, OSError, ValueError, KeyError):
            return {}
        if len(index) != len(emb):
            return {}
        return {int(i): e for i, e in zip(index, emb)}

    def save(self, fingerprint: str, windows: dict[int, np.ndarray]) -> None:
        """Write a recording's windows (all of them: callers merge with `load` first)."""
        if not fingerprint or not windows:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        order = sorted(windows)
        path = self._path(fingerprint)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, index=np.asarray(order, np.int64),
                 emb=np.stack([windows[i] for i in order]).astype(np.float16))
        os.replace(tmp, path)
