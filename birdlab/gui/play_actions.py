"""The playback keys: Space (play from the cursor, or pause and resume), Shift+Space (the visible
range), B (the selected box, band-limited), at the toolbar's speed and channel. The sound card
is `gui/playback.Player`, made on first use (sounddevice loads lazily)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox

from birdlab.core.session import Session
from birdlab.gui.spectrogram_view import SpectrogramView


class PlayActions(QObject):
    state = Signal(str)  # playing, paused, stopped
    message = Signal(str, int)  # why playback is unavailable, and how long to show it (ms)

    def __init__(self, session: Session, view: SpectrogramView, channel_box: QComboBox, speed_box: QComboBox,
                 parent=None):
        super().__init__(parent)
        self.session, self.view, self.channel_box, self.speed_box = session, view, channel_box, speed_box
        self.player = None  # made on first use

    def _player(self):
        if self.player is None:
            from birdlab.gui.playback import Player
            self.player = Player(parent=self, sync_limit_s=0.0)  # every clip is decoded off the GUI thread
            self.player.positionChanged.connect(self.view.set_cursor)
            self.player.stateChanged.connect(self.state)
            self.player.unavailable.connect(lambda reason: self.message.emit(reason, 8000))
        return self.player

    def play(self, t0: float, t1: float, band: tuple[float, float] | None = None) -> None:
        recording = self.session.recording
        if not recording:
            return
        channel = self.channel_box.currentData()
        self._player().play(str(recording.abs_path), t0, t1, channel=-1 if channel is None else channel,
                            band=band, speed=float(self.speed_box.currentData()))

    def toggle(self) -> None:
        player = self._player()
        if getattr(player, "state", "stopped") in ("playing", "paused"):
            player.toggle()
        else:
            t0, t1 = self.view.visible_range()
            start = self.view.cursor.value()
            self.play(start if t0 <= start < t1 else t0, self.view.duration)

    def play_visible(self) -> None:
        self.play(*self.view.visible_range())

    def play_selected_box(self) -> None:
        ids = self.view.selected_ids()
        project = self.session.project
        if ids and project:
            lab = project.label(ids[0])
            self.play(lab.t_min, lab.t_max, band=(lab.f_min, lab.f_max))

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
