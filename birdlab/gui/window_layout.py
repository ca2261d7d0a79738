"""The main window's menus, toolbars and docks: layout only.

Each function builds widgets and actions on the window and connects them to its slots; the
window keeps the behaviour (gui/main_window.py) and the state lives in the session
(core/session.py).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QCompleter, QDockWidget, QDoubleSpinBox, QLabel, QProgressBar,
                               QSlider, QSpinBox, QToolBar, QToolButton, QWidget)

from birdlab.core.model import Polarity
from birdlab.core.sound.spectrogram import WINDOWS
from birdlab.gui.key_routing import route_single_keys
from birdlab.gui.labels_browser import LabelsBrowser
from birdlab.gui.labels_table import LabelsTable
from birdlab.gui.recordings_panel import RecordingsPanel
from birdlab.gui.embedding_map_panel import EmbeddingMapPanel
from birdlab.gui.review_panel import ReviewPanel
from birdlab.gui.project_io import choose_audio, choose_project
from birdlab.gui.spectrogram_view import COLORMAPS, OVERLAPS, SpectrogramView, ViewSettings
from birdlab.gui.versions_panel import VersionsPanel

POLARITY_KEYS = {Polarity.POSITIVE: "P", Polarity.NEGATIVE: "N", Polarity.UNCERTAIN: "U"}
SPEEDS = (0.1, 0.125, 0.25, 0.5, 1.0, 1.5, 2.0)


def add_dock(win, title: str, widget: QWidget, area) -> QDockWidget:
    """A dock on the window (named, so the layout is saved and restored)."""
    dock = QDockWidget(title, win)
    dock.setObjectName(f"dock-{title}")
    dock.setWidget(widget)
    win.addDockWidget(area, dock)
    return dock


def build_docks(win) -> None:
    """The spectrogram in the middle; Recordings left, Labels and All labels below (tabbed),
    Review and Model versions right (tabbed, Review in front); the status bar's scoring progress
    and read-outs."""
    win.view = SpectrogramView()
    win.setCentralWidget(win.view)
    win.recordings = RecordingsPanel()

    def class_names() -> list[str]:  # the class lists of the tables' editors
        return [c.name for c in win.project.classes()] if win.project else []

    win.labels_table = LabelsTable(class_names=class_names)
    win.labels_browser = LabelsBrowser(class_names=class_names)
    recordings_dock = add_dock(win, "Recordings", win.recordings, Qt.DockWidgetArea.LeftDockWidgetArea)
    win.resizeDocks([recordings_dock], [360], Qt.Orientation.Horizontal)
    labels_dock = add_dock(win, "Labels", win.labels_table, Qt.DockWidgetArea.BottomDockWidgetArea)
    win.browser_dock = add_dock(win, "All labels", win.labels_browser, Qt.DockWidgetArea.BottomDockWidgetArea)
    win.tabifyDockWidget(labels_dock, win.browser_dock)  # this recording's labels in front
    labels_dock.raise_()
    win.review = ReviewPanel()
    win.review_dock = add_dock(win, "Review", win.review, Qt.DockWidgetArea.RightDockWidgetArea)
    win.versions = VersionsPanel()
    versions_dock = add_dock(win, "Model versions", win.versions, Qt.DockWidgetArea.RightDockWidgetArea)
    win.tabifyDockWidget(win.review_dock, versions_dock)  # full height each; Review in front
    win.map_panel = EmbeddingMapPanel(win.session, lambda: list(win.review.model.items), win._class_names, win)
    win.map_dock = add_dock(win, "Embedding map", win.map_panel, Qt.DockWidgetArea.RightDockWidgetArea)
    win.tabifyDockWidget(versions_dock, win.map_dock)
    win.review_dock.raise_()
    win.score_bar = QProgressBar(maximumWidth=180, maximum=1000, textVisible=True)
    win.score_cancel = QToolButton(text="cancel", toolTip="stop scoring this recording")
    win.statusBar().addWidget(win.score_bar)
    win.statusBar().addWidget(win.score_cancel)
    win.index_bar = QProgressBar(maximumWidth=260, textVisible=True)
    win.index_bar.setToolTip("embedding the project's windows for Find similar (BirdNET v2.4, 1 s hop)")
    win.index_cancel = QToolButton(text="cancel", toolTip="stop embedding (the windows done so far are kept)")
    for w in (win.index_bar, win.index_cancel):
        win.statusBar().addWidget(w)
        w.hide()
    win.status_recording, win.status_cursor, win.status_play = QLabel(), QLabel(), QLabel()
    for w in (win.status_recording, win.status_cursor, win.status_play):
        win.statusBar().addPermanentWidget(w)


def make_action(win, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    """A window-wide action with its shortcut in the tooltip."""
    action = QAction(text, win)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.setToolTip(f"{tip or text} ({QKeySequence(shortcut).toString()})" if shortcut else tip or text)
    action.triggered.connect(slot)
    win.addAction(action)
    return action


def view_toggle(win, menu, text: str, apply, tip: str) -> QAction:
    """A checked-by-default View menu entry; `apply(checked)` when toggled."""
    action = make_action(win, text, lambda: apply(action.isChecked()), tip=tip)
    action.setCheckable(True)
    action.setChecked(True)
    menu.addAction(action)
    return action


def build_menus(win) -> None:
    """The menu bar: File, Edit, Review, View, Play, Help (every action also a window shortcut)."""
    menu = win.menuBar()
    file = menu.addMenu("&File")
    file.addAction(make_action(win, "Open project...", lambda: choose_project(win), QKeySequence.StandardKey.Open))
    file.addAction(make_action(win, "Open audio files...", lambda: choose_audio(win)))
    win.recent_menu = file.addMenu("Recent projects")
    fill_recent(win)
    file.addSeparator()
    file.addAction(make_action(win, "Quit", win.close, QKeySequence.StandardKey.Quit))
    edit = menu.addMenu("&Edit")
    undo = win.undo_stack.createUndoAction(win, "Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = win.undo_stack.createRedoAction(win, "Redo")
    redo.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Shift+Z")])
    edit.addActions([undo, redo])
    win.undo_action, win.redo_action = undo, redo
    edit.addSeparator()
    edit.addAction(make_action(win, "Delete selected labels", lambda: win.edits.delete_selected(),
                               QKeySequence.StandardKey.Delete))
    win.polarity_actions = {}
    group = QActionGroup(win)
    for polarity, key in POLARITY_KEYS.items():
        action = make_action(win, f"{polarity.value.capitalize()}", lambda _=False, p=polarity: win.set_polarity(p),
                              key, f"new boxes and the selected labels become {polarity.value}")
        action.setCheckable(True)
        group.addAction(action)
        edit.addAction(action)
        win.polarity_actions[polarity] = action
    win.polarity_actions[Polarity.POSITIVE].setChecked(True)
    edit.addAction(make_action(win, "Apply the current class to the selection", lambda: win.edits.apply_class(), "L"))
    edit.addAction(make_action(win, "Mark visible range reviewed (complete)", lambda: win.edits.mark_reviewed(), "R",
                                "unlabelled audio here counts as negative for the chosen classes"))
    edit.addAction(make_action(win, "Mark selected recordings empty for classes...",
                                lambda: win.mark_empty(win.recordings.selected_ids()), None,
                                "the recordings hold no call of the chosen classes: their audio trains as "
                                "negative (select several in the Recordings panel)"))
    review = menu.addMenu("&Review")
    for text, key, slot in (("Accept (positive label)", "A", lambda: win.decide(Polarity.POSITIVE)),
                            ("Reject (negative label)", "X", lambda: win.decide(Polarity.NEGATIVE)),
                            ("Uncertain", "Q", lambda: win.decide(Polarity.UNCERTAIN)),
                            ("Skip", "S", lambda: win.reviewing.skip()),
                            ("Relabel to the class box's class", "C",
                             lambda: win.reviewing.relabel(win.current_class_id()))):
        review.addAction(make_action(win, text, slot, key))
    review.addSeparator()
    review.addAction(make_action(win, "Find similar (more like this)", lambda: win.similar.find_similar(), "M",
                                 "the windows of the project most like the selected boxes (else the detection "
                                 "under review, else the visible range), queued for review"))
    review.addAction(make_action(win, "Embedding map", lambda: win.show_map(), "Ctrl+M",
                                 "the project's windows in 2-D by their embeddings (t-SNE), coloured by class"))
    review.addAction(make_action(win, "Build the embedding index", lambda: win.similar.build_index(), None,
                                 "embed the recordings not indexed yet (BirdNET v2.4, 1 s hop) for Find similar"))
    view = menu.addMenu("&View")
    view.addAction(make_action(win, "Zoom in", lambda: win.view.zoom(0.5), "Ctrl+="))
    view.addAction(make_action(win, "Zoom out", lambda: win.view.zoom(2.0), "Ctrl+-"))
    view.addAction(make_action(win, "Whole recording", lambda: win.view.set_visible_range(0, win.view.duration),
                                "Ctrl+0"))
    view.addAction(make_action(win, "Fit frequency to the selection", lambda: win.view.fit_band_to_selection(), "F",
                               tip="the selected boxes' band fills the height (the wheel over the frequency "
                                   "axis zooms it, a drag there pans)"))
    view.addAction(make_action(win, "All frequencies", lambda: win.view.show_all_frequencies(), "Shift+F"))
    win.clock_action = view_toggle(win, view, "Clock time from file names", lambda on: apply_look(win),
                                   "time of day on the time axis when a file name carries the start "
                                   "(AudioMoth, Song Meter: YYYYMMDD_HHMMSS)")
    win.waveform_action = view_toggle(win, view, "Waveform", win.view.waveform.set_visible,
                                      "the waveform strip under the spectrogram")
    win.captions_action = view_toggle(win, view, "Captions", win.view.set_captions,
                                      "class names on the boxes (those that fit; the others on hover)")
    win.stacked_action = view_toggle(win, view, "Stacked channels", lambda on: apply_look(win),
                                     "every channel of a multi-channel file in a lane under the spectrogram "
                                     "(a click on a lane shows that channel)")
    win.view.channel_strip.laneClicked.connect(lambda lane: show_channel(win, lane))
    play = menu.addMenu("&Play")
    play.addAction(make_action(win, "Play / pause", lambda: win.playing.toggle(), "Space"))
    play.addAction(make_action(win, "Play visible range", lambda: win.playing.play_visible(), "Shift+Space"))
    play.addAction(make_action(win, "Play selected box (band-limited)", lambda: win.playing.play_selected_box(), "B"))
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(make_action(win, "Keyboard shortcuts", lambda: show_shortcuts(win), "F1"))


def build_toolbars(win) -> None:
    """The toolbars: labelling (class, polarity, undo), spectrogram look, model, playback."""
    bar = QToolBar("Labelling")
    bar.setObjectName("toolbar-labelling")
    win.addToolBar(bar)
    bar.addWidget(QLabel(" class "))
    win.class_box = QComboBox()
    win.class_box.setEditable(True)
    win.class_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    win.class_box.setMinimumContentsLength(18)
    win.class_box.completer().setFilterMode(Qt.MatchFlag.MatchContains)
    win.class_box.completer().setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
    # the class box takes text only when clicked: with focus from anywhere else (start-up, Tab) the
    # review keys A, X, Q... would type into it and make a new class; Enter or a pick hands back
    win.class_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
    win.class_box.lineEdit().setFocusPolicy(Qt.FocusPolicy.ClickFocus)
    win.class_box.lineEdit().returnPressed.connect(lambda: (win.edits.apply_class(), win.view.setFocus()))
    win.class_box.activated.connect(lambda _index: win.view.setFocus())
    win.key_routing = route_single_keys(win)
    bar.addWidget(win.class_box)
    for action in win.polarity_actions.values():
        bar.addAction(action)
    bar.addSeparator()
    bar.addAction(win.undo_action)
    bar.addAction(win.redo_action)

    look = QToolBar("Spectrogram")
    look.setObjectName("toolbar-spectrogram")
    win.addToolBar(look)
    win.colormap_box = QComboBox()
    win.colormap_box.addItems(COLORMAPS)
    win.top_db = QDoubleSpinBox(minimum=-120, maximum=20, value=-10, suffix=" dB", singleStep=5)
    win.db_range = QDoubleSpinBox(minimum=10, maximum=150, value=80, suffix=" dB range", singleStep=5)
    win.fmin = QSpinBox(minimum=0, maximum=500_000, value=0, suffix=" Hz min", singleStep=500)
    win.fmax = QSpinBox(minimum=0, maximum=500_000, value=0, suffix=" Hz max", singleStep=1000)
    win.fmax.setSpecialValueText("Nyquist")
    win.mel_box = QCheckBox("mel")
    win.denoise_box = QCheckBox("denoise")
    win.denoise_box.setToolTip("take each frequency's steady noise (its median) out of the picture")
    win.nfft_box = QComboBox()
    win.nfft_box.addItems(["256", "512", "1024", "2048", "4096"])
    win.nfft_box.setCurrentText("1024")
    win.window_box = QComboBox()
    win.window_box.addItems(list(WINDOWS))
    win.window_box.setToolTip("FFT window")
    win.overlap_box = QComboBox()
    for overlap in OVERLAPS:
        win.overlap_box.addItem(f"{overlap * 100:g} % overlap", overlap)
    win.overlap_box.setCurrentIndex(OVERLAPS.index(0.75))
    win.overlap_box.setToolTip("overlap of the frames at the finest zoom (zoomed out, every column pools the "
                               "frames it covers)")
    win.channel_box = QComboBox()
    for w in (win.colormap_box, win.top_db, win.db_range, win.fmin, win.fmax, win.nfft_box, win.window_box,
              win.overlap_box, win.channel_box, win.mel_box, win.denoise_box):
        look.addWidget(w)
        signal = getattr(w, "currentIndexChanged", None) or getattr(w, "valueChanged", None) or w.toggled
        signal.connect(lambda *_: apply_look(win))
    win.auto_contrast = QToolButton(text="auto")
    win.auto_contrast.setToolTip("contrast from what is on screen: the noise at the bottom of the colours, the "
                                 "loudest calls at the top")
    win.auto_contrast.clicked.connect(lambda: auto_contrast(win))
    look.addWidget(win.auto_contrast)
    win.addToolBarBreak()
    model = QToolBar("Model")
    model.setObjectName("toolbar-model")
    win.addToolBar(model)
    win.model_label = QLabel(" no model ")
    model.addWidget(win.model_label)
    model.addWidget(QLabel(" threshold "))
    win.threshold_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=50)
    win.threshold_slider.setFixedWidth(120)
    win.threshold_slider.setToolTip("show detections scoring at least this (live)")
    win.threshold_value = QLabel("0.50")
    win.threshold_slider.valueChanged.connect(win._threshold_changed)
    model.addWidget(win.threshold_slider)
    model.addWidget(win.threshold_value)
    win.track_class_box = QComboBox()
    win.track_class_box.setToolTip("score tracks to show")
    model.addWidget(win.track_class_box)
    model.addAction(make_action(win, "Score", win.rescore_current, "Ctrl+Shift+S",
                                 "score this recording again with the active model"))
    model.addAction(make_action(win, "Retrain...", win.open_retrain, "Ctrl+T",
                                 "train a new model version on the labels (in a child process)"))
    model.addAction(make_action(win, "Score folders...", win.open_batch, "Ctrl+B",
                                 "score folders of recordings into tables and the project"))
    model.addAction(make_action(win, "Report", win.show_report, "Ctrl+R",
                                 "per-class AP, PR curves and score histograms of the active model "
                                 "against the reviewed labels"))
    play = QToolBar("Playback")
    play.setObjectName("toolbar-playback")
    win.addToolBar(play)
    play.addAction(make_action(win, "▶ / ❚❚", lambda: win.playing.toggle(), tip="play or pause"))
    win.speed_box = QComboBox()
    for s in SPEEDS:
        win.speed_box.addItem(f"{s:g}x", s)
    win.speed_box.setCurrentText("1x")
    win.speed_box.setToolTip("playback speed (below 1x: time expansion, for bats)")
    play.addWidget(win.speed_box)


def show_shortcuts(win) -> None:
    from PySide6.QtWidgets import QMessageBox

    from birdlab.gui.shortcuts import shortcuts_html
    QMessageBox.information(win, "birdlab keyboard shortcuts", shortcuts_html(win.findChildren(QAction)))


def remember_recent(win, folder: str) -> None:
    recent = [f for f in (win.settings.value("recent-projects", []) or []) if f != folder]
    win.settings.setValue("recent-projects", [folder] + recent[:9])
    fill_recent(win)


def fill_recent(win) -> None:
    win.recent_menu.clear()
    for folder in win.settings.value("recent-projects", []) or []:
        win.recent_menu.addAction(folder, lambda f=folder: win.open_project(f))


def restore_layout(win) -> None:
    geometry = win.settings.value("window/geometry")
    state = win.settings.value("window/state")
    if geometry is not None:
        win.restoreGeometry(geometry)
    if state is not None:
        win.restoreState(state)


def auto_contrast(win) -> None:
    """Set the dB level and range from the tiles on screen (one step on the undo-free look)."""
    top, span = win.view.auto_levels()
    for box, value in ((win.top_db, top), (win.db_range, span)):
        box.blockSignals(True)
        box.setValue(value)
        box.blockSignals(False)
    apply_look(win)


def apply_look(win) -> None:
    """The spectrogram toolbar's settings onto the view."""
    channel = win.channel_box.currentData()
    win.view.apply_settings(ViewSettings(
        colormap=win.colormap_box.currentText(), top_db=win.top_db.value(), db_range=win.db_range.value(),
        mel=win.mel_box.isChecked(), n_fft=int(win.nfft_box.currentText()), denoise=win.denoise_box.isChecked(),
        window=win.window_box.currentText(), overlap=win.overlap_box.currentData(),
        channel=channel if channel is not None else -1,
        f_min=float(win.fmin.value()) or None, f_max=float(win.fmax.value()) or None,
        clock_time=win.clock_action.isChecked(), stacked_channels=win.stacked_action.isChecked()))


def show_channel(win, channel: int) -> None:
    """A lane of the stacked channels was clicked: that channel in the main view."""
    index = win.channel_box.findData(channel)
    if index >= 0:
        win.channel_box.setCurrentIndex(index)


def fit_controls(win, info) -> None:
    """The toolbar's channel choice and frequency limits for a recording (its header's `info`);
    untouched when they already fit (the next recording of an archive is alike: no relayout)."""
    if (win.channel_box.count() == info.channels + 1 and win.fmax.maximum() == int(info.sample_rate // 2)):
        return
    win.channel_box.blockSignals(True)
    win.channel_box.clear()
    win.channel_box.addItem("mix", -1)
    for c in range(info.channels):
        win.channel_box.addItem(f"channel {c + 1}", c)
    win.channel_box.blockSignals(False)
    win.fmax.setMaximum(int(info.sample_rate // 2))
    win.fmin.setMaximum(int(info.sample_rate // 2) - 1)
