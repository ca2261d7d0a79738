"""Measurements of the labels on screen (peak frequency and time, SNR), read from the audio off
the GUI thread and handed to the labels table a batch at a time, so a recording with thousands
of labels opens at once and its measurement columns fill in behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from birdlab.core.model import Label
from birdlab.core.sound.audio import AudioError
from birdlab.core.sound.measure import Measurements, measure_box
from birdlab.gui.background import Background

BATCH = 25  # labels measured between two deliveries to the table
START_AFTER_MS = 400  # the view paints first; a quick run through recordings measures only where it stops


class LabelMeasurer(QObject):
    def __init__(self, show: Callable[[dict[int, Measurements]], None], threads: int = 1, parent=None):
        """show({label id: measurements}) runs on the GUI thread as batches are done."""
        super().__init__(parent)
        self.show = show
        self.background = Background(threads, "measure", self)
        self._generation = 0
        self._cache: dict[tuple, Measurements] = {}  # by label id and box: a moved box is measured again
        self._todo: tuple | None = None
        self._start = QTimer(self, singleShot=True, interval=START_AFTER_MS)
        self._start.timeout.connect(self._submit)

    @staticmethod
    def _key(label: Label) -> tuple:
        return label.id, label.t_min, label.t_max, label.f_min, label.f_max

    def measure(self, path: str | Path, duration: float, labels: list[Label]) -> None:
        """Measure these labels of one recording (what was asked before and is not done is dropped)."""
        self._generation += 1
        known = {label.id: self._cache[self._key(label)] for label in labels if self._key(label) in self._cache}
        if known:
            self.show(known)
        todo = [label for label in labels if self._key(label) not in self._cache]
        self._todo = (self._generation, str(path), duration, todo) if todo else None
        if todo:
            self._start.start()

    def _submit(self) -> None:
        if self._todo is not None:
            self.background.submit(self._job, *self._todo)
            self._todo = None

    def _job(self, generation: int, path: str, duration: float, labels: list[Label]) -> None:
        batch: dict[tuple, Measurements] = {}
        for i, label in enumerate(labels):
            if generation != self._generation:
                return  # another recording (or another edit) asked since
            try:
                batch[self._key(label)] = measure_box(path, label.box, duration)
            except (AudioError, OSError, ValueError):
                pass  # an unreadable stretch: the cells stay empty
            if len(batch) >= BATCH or i == len(labels) - 1:
                self.background.deliver(self._done, generation, batch)
                batch = {}

    def _done(self, generation: int, batch: dict[tuple, Measurements]) -> None:
        self._cache.update(batch)
        if generation == self._generation:
            self.show({key[0]: found for key, found in batch.items()})

    def shutdown(self) -> None:
        self._generation += 1
        self._start.stop()
        self.background.shutdown()
