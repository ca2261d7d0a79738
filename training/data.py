"""Training crops from a job: positives, negatives and background, with RFCX frame targets.

Each labelled box gives a crop (default 5 s) at a random offset that keeps the box (or, for
a box longer than the crop, a random part of it) inside; reviewed-complete extents give
background crops. Targets and masks come from every label and extent of the recording that
the crop touches (birdlab.core.ml.targets). Every random choice is drawn from a generator
seeded by (seed, epoch, index), so an epoch is the same whatever the worker count, and a
resumed run sees the same batches.

A distillation job adds its teacher's score tracks: wherever a crop's frame is not labelled
for a class the teacher knows, the teacher's score is the target there (a soft target, with
the mask set), so the labels win where there are any and the teacher speaks everywhere else.
Teacher crops then cover all of the job's audio, labelled or not.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from birdlab.core.sound.audio import AudioError, read_window
from birdlab.core.store.track_cache import load_tracks
from birdlab.core.ml.jobs import Job, JobError, JobRecording, split_recordings  # noqa: F401 (re-exported)
from birdlab.core.model import Polarity
from birdlab.core.ml.targets import TimeBox, frame_targets


TEACHER_CACHE = 64  # recordings whose teacher tracks stay in memory


@dataclass(frozen=True)
class Crop:
    """Where a crop may start: uniformly in [start_lo, start_hi] (equal for a fixed crop)."""

    recording: int
    start_lo: float
    start_hi: float
    class_index: int  # the class of the label it was made for (-1: background)
    polarity: str  # positive, negative, background


class JobData:
    """The job's recordings, boxes and extents indexed for cropping."""

    def __init__(self, job: Job, sample_rate: int, crop_s: float, frame_hop_s: float):
        self.job = job
        self.sample_rate = sample_rate
        self.crop_s = crop_s
        self.frame_hop_s = frame_hop_s
        self.n_frames = int(round(crop_s / frame_hop_s))
        self.class_index = {name: i for i, name in enumerate(job.classes)}
        self.recordings: dict[int, JobRecording] = {r.id: r for r in job.recordings}
        self.boxes: dict[int, list[TimeBox]] = defaultdict(list)
        for lab in job.labels:
            self.boxes[lab.recording].append(TimeBox(lab.t_min, lab.t_max, self.class_index[lab.class_name],
                                                     lab.polarity))
        for ext in job.extents:
            for name in ext.classes:
                if name in self.class_index:
                    self.boxes[ext.recording].append(TimeBox(ext.t_min, ext.t_max, self.class_index[name],
                                                             Polarity.NEGATIVE))

        # rid -> (tracks, hop, class index) of the recordings read last: a bounded cache, as the
        # tracks of a whole archive would not fit in memory (40 bytes per second per class)
        self._teacher: OrderedDict[int, tuple[np.ndarray, float, np.ndarray]] = OrderedDict()

    @property
    def has_teacher(self) -> bool:
        return self.job.teacher is not None

    def teacher_tracks(self, recording: int) -> tuple[np.ndarray, float, np.ndarray] | None:
        """(tracks [frames, teacher classes], frame hop, job class index of each teacher class)."""
        folder = self.job.teacher_folder()
        if folder is None:
            return None
        if recording not in self._teacher:
            path = folder / f"{recording}.npz"
            loaded = load_tracks(path) if path.exists() else None
            if loaded is None:
                return None
            tracks, hop, classes = loaded
            index = np.array([self.class_index.get(name, -1) for name in classes])
            self._teacher[recording] = (tracks, hop, index)
            while len(self._teacher) > TEACHER_CACHE:
                self._teacher.popitem(last=False)
        self._teacher.move_to_end(recording)
        return self._teacher[recording]

    def teacher_crops(self, recording_ids: set[int], segment_s: float | None = None) -> list[Crop]:
        """Crops over all the audio the teacher scored: one per `segment_s` (default: a crop's
        length) of each recording, starting anywhere in its segment, so an epoch covers it all."""
        segment_s = segment_s or self.crop_s
        out = []
        for rid in sorted(recording_ids):
            if self.teacher_tracks(rid) is None:
                continue
            last = max(0.0, self.recordings[rid].duration - self.crop_s)
            for lo in np.arange(0.0, last + 1e-9, segment_s):
                out.append(Crop(rid, float(lo), float(min(lo + segment_s, last)), -1, "teacher"))
        return out

    def check_audio(self) -> None:
        """Fail at once (JobError naming the files) when recordings are missing."""
        missing = [r.path for r in self.recordings.values() if not Path(r.path).is_file()]
        if missing:
            shown = "\n  ".join(missing[:10])
            raise JobError(f"{self.job.path}: {len(missing)} recording(s) not found (use --audio-root DIR "
                           f"where the audio was moved):\n  {shown}")

    def label_crops(self, recording_ids: set[int]) -> list[Crop]:
        out = []
        for lab in self.job.labels:
            if lab.recording not in recording_ids:
                continue
            duration = self.recordings[lab.recording].duration
            lo, hi = crop_range(lab.t_min, lab.t_max, self.crop_s, duration)
            out.append(Crop(lab.recording, lo, hi, self.class_index[lab.class_name], lab.polarity.value))
        return out

    def background_crops(self, recording_ids: set[int], count: int, rng: np.random.Generator) -> list[Crop]:
        """Crops inside extents reviewed as complete (their unlabelled audio is negative)."""
        extents = [e for e in self.job.extents if e.recording in recording_ids]
        if not extents or count <= 0:
            return []
        lengths = np.array([e.t_max - e.t_min for e in extents])
        out = []
        for i in rng.choice(len(extents), size=count, p=lengths / lengths.sum()):
            ext = extents[i]
            hi = max(ext.t_min, min(ext.t_max, self.recordings[ext.recording].duration) - self.crop_s)
            out.append(Crop(ext.recording, ext.t_min, hi, -1, "background"))
        return out

    def tile_crops(self, recording_ids: set[int]) -> list[Crop]:
        """Fixed crops tiling each recording (for validation): every crop where something is labelled."""
        out = []
        for rid in sorted(recording_ids):
            duration = self.recordings[rid].duration
            for start in np.arange(0.0, max(duration - self.crop_s, 0.0) + 1e-9, self.crop_s):
                out.append(Crop(rid, float(start), float(start), -1, "tile"))
        return out

    def read(self, crop: Crop, start: float) -> np.ndarray:
        """Mono audio of the crop at the model's rate, zero-padded to full length."""
        rec = self.recordings[crop.recording]
        n = int(round(self.crop_s * self.sample_rate))
        try:
            audio, _ = read_window(rec.path, start, start + self.crop_s, sample_rate=self.sample_rate)
        except AudioError as exc:
            raise JobError(str(exc)) from None
        out = np.zeros(n, dtype=np.float32)
        out[:min(n, len(audio))] = audio[:n]
        return out

    def targets(self, recording: int, start: float, teacher: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Frame targets and mask [classes, frames]; with `teacher`, unlabelled frames of the
        teacher's classes take its scores (the frame nearest each frame's centre)."""
        targets, mask = frame_targets(self.boxes.get(recording, ()), start, self.frame_hop_s, self.n_frames,
                                      len(self.job.classes))
        scored = self.teacher_tracks(recording) if teacher else None
        if scored is None:
            return targets, mask
        tracks, hop, index = scored
        centres = start + (np.arange(self.n_frames) + 0.5) * self.frame_hop_s
        rows = np.floor(centres / hop).astype(int)
        inside = (rows >= 0) & (rows < len(tracks))
        for column, c in enumerate(index):
            if c < 0:
                continue
            free = inside & (mask[c] == 0)
            targets[c, free] = tracks[rows[free], column]
            mask[c, free] = 1.0
        return targets, mask


def crop_range(t_min: float, t_max: float, crop_s: float, duration: float) -> tuple[float, float]:
    """The range of crop starts that keep the box inside the crop (or a part of a long box)."""
    if t_max - t_min <= crop_s:
        lo, hi = t_max - crop_s, t_min
    else:
        lo, hi = t_min, t_max - crop_s
    last = max(0.0, duration - crop_s)
    lo, hi = min(max(lo, 0.0), last), min(max(hi, 0.0), last)
    return lo, max(lo, hi)


class CropDataset(Dataset):
    """Crops -> (audio [N], targets [C, T], mask [C, T]); random offsets drawn per (seed, epoch, index)."""

    def __init__(self, data: JobData, crops: list[Crop], seed: int, random_offsets: bool = True,
                 teacher: bool = False):
        """teacher: targets include the teacher's scores (training only; validation is the labels)."""
        self.data, self.crops, self.seed = data, crops, seed
        self.random_offsets = random_offsets
        self.teacher = teacher
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.crops)

    def start_of(self, index: int) -> float:
        crop = self.crops[index]
        if not self.random_offsets or crop.start_hi <= crop.start_lo:
            return crop.start_lo
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return float(rng.uniform(crop.start_lo, crop.start_hi))

    def __getitem__(self, index: int):
        crop = self.crops[index]
        start = self.start_of(index)
        targets, mask = self.data.targets(crop.recording, start, teacher=self.teacher)
        return torch.from_numpy(self.data.read(crop, start)), torch.from_numpy(targets), torch.from_numpy(mask)


def balanced_weights(crops: list[Crop], teacher_share: float = 0.5) -> np.ndarray:
    """Sampling weights that give each (class, polarity) group the same total weight; teacher
    crops (all of a distillation job's audio), when there are any, get `teacher_share` of the
    whole, uniformly (or everything, when there is nothing else)."""
    groups = [(c.class_index, c.polarity) for c in crops]
    counts: dict = defaultdict(int)
    for g in groups:
        counts[g] += 1
    weights = np.array([1.0 / counts[g] for g in groups])
    is_teacher = np.array([c.polarity == "teacher" for c in crops], dtype=bool)
    if is_teacher.any() and not is_teacher.all():
        weights[is_teacher] *= teacher_share / weights[is_teacher].sum()
        weights[~is_teacher] *= (1.0 - teacher_share) / weights[~is_teacher].sum()
    return weights / weights.sum()


def epoch_order(weights: np.ndarray, seed: int, epoch: int, balance: bool, size: int | None = None) -> np.ndarray:
    """The indices of one epoch (`size` draws, default len(weights)): class-balanced with
    replacement, or a permutation."""
    rng = np.random.default_rng([seed, epoch, 7])
    if balance:
        return rng.choice(len(weights), size=size or len(weights), p=weights)
    return rng.permutation(len(weights))



def unlabelled_audio(data: JobData, rng: np.random.Generator, tries: int = 20) -> np.ndarray | None:
    """A crop of project audio that no positive label touches (for background-noise mixing)."""
    recs = list(data.recordings.values())
    for _ in range(tries):
        rec = recs[int(rng.integers(len(recs)))]
        start = float(rng.uniform(0.0, max(0.0, rec.duration - data.crop_s)))
        end = start + data.crop_s
        if any(b.polarity is Polarity.POSITIVE and b.t_max > start and b.t_min < end for b in data.boxes.get(rec.id, ())):
            continue
        return data.read(Crop(rec.id, start, start, -1, "background"), start)
    return None
