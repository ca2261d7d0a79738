"""Shared test set-up: Qt offscreen, small generated audio files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def tone(duration: float, sample_rate: int, freq: float, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    """A sine per channel (channel k at freq*(k+1), capped below Nyquist), [frames, channels]."""
    t = np.arange(int(round(duration * sample_rate))) / sample_rate
    cols = []
    for k in range(channels):
        f = min(freq * (k + 1), sample_rate * 0.45)
        cols.append(amp * np.sin(2 * np.pi * f * t))
    return np.stack(cols, axis=1).astype(np.float32)


@pytest.fixture
def make_wav(tmp_path: Path):
    """Write a tone file and return its path."""
    def make(name: str = "rec.wav", duration: float = 2.0, sample_rate: int = 16000, channels: int = 1,
             freq: float = 1000.0, subtype: str = "PCM_16", folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone(duration, sample_rate, freq, channels), sample_rate, subtype=subtype)
        return path
    return make


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """The demo project, built once for the test module that asks for it (its tests share it;
    a module that needs a fresh copy per test defines its own)."""
    from birdlab.cli import main

    folder = tmp_path_factory.mktemp("demo") / "demo"
    assert main(["demo", str(folder), "--no-gui"]) == 0
    return folder
