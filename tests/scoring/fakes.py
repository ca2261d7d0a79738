"""A pure-Python scorer whose outputs say where each frame came from (for stitching tests).

The audio file holds its own time: sample n is n / rate (a float WAV keeps values above 1).
Class "time": framewise frame k of a window = mean of the window's samples in that frame,
i.e. the frame's time centre, the same from every window that covers it. Class "window":
the index of the window (its start / hop), so overlaps average to a predictable mean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from birdlab.core.sound.features import StftSpec

KEY = StftSpec(16, 1)  # any hashable key: this scorer reads the raw audio


class RampScorer:
    classes = ("time", "window")
    sample_rate = 1000
    window_s = 5.0
    frame_hop_s = 0.1
    out_frames = 50
    class_bands: dict = {}
    input_specs = (KEY,)
    needs_audio = False
    default_hop_s = None  # no overlap unless the settings ask for one
    overlap = "mean"
    fingerprint = "fake:ramp"

    def __init__(self, hop_s: float):
        self.hop_s = hop_s
        self.calls = 0

    def describe(self) -> dict:
        return {"kind": "fake"}

    def features(self, audio: np.ndarray) -> dict:
        return {KEY: np.asarray(audio, dtype=np.float64)}

    def predict_features(self, features: dict) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        audio = features[KEY]
        per = int(round(self.frame_hop_s * self.sample_rate))
        frames = audio.reshape(len(audio), self.out_frames, per).mean(axis=2)
        index = np.round(audio[:, 0] / self.hop_s)
        fw = np.stack([frames, np.broadcast_to(index[:, None], frames.shape)], axis=2).astype(np.float32)
        return fw, fw.max(axis=1)

    def predict(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.predict_features(self.features(audio))


def ramp_file(path: Path, duration: float, rate: int = 1000) -> Path:
    n = int(round(duration * rate))
    sf.write(path, (np.arange(n) / rate).astype(np.float32), rate, subtype="FLOAT")
    return path


def crash_on_request(path: str, rel: str):
    """A batch task that kills its worker process for files named crash*.wav."""
    import os

    from birdlab.scoring.batch import Outcome
    from birdlab.scoring.outputs import FileDone

    if Path(path).name.startswith("crash"):
        os._exit(3)
    return Outcome(path, True, done=FileDone(path, 1.0, 16000, ()))
