"""Readable overlays: one colour per class for labels, detections and tracks; polarity as line
style and fill; captions that never overlap, and a toggle."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRectF, Qt

from birdlab.cli import main
from birdlab.core.model import Polarity
from birdlab.gui.captions import free_captions
from birdlab.gui.palette import class_colour


def test_free_captions_keep_the_first_of_overlapping_ones():
    rects = [QRectF(0, 0, 50, 10), QRectF(40, 5, 50, 10), QRectF(100, 0, 50, 10), QRectF(0, 20, 50, 10)]
    assert free_captions(rects) == [True, False, True, True]


def test_a_class_has_one_colour_on_labels_detections_and_tracks(window):
    view = window.view
    by_class = {}
    for box in view.boxes.values():
        by_class.setdefault(box.label.class_id, set()).add(box.pen.color().name())
    for det, rect, _ in view.detection_items:
        by_class.setdefault(det.class_id, set()).add(rect.pen().color().name())
    assert len(by_class) >= 2 and all(len(colours) == 1 for colours in by_class.values())
    assert len({next(iter(c)) for c in by_class.values()}) == len(by_class)  # classes told apart
    names = {c.id: c.name for c in window.project.classes()}
    for class_id, colours in by_class.items():
        assert colours == {class_colour(class_id).name()}
        curve = view.track_curves.get(names[class_id])
        if curve is not None:
            assert curve.opts["pen"].color().name() == class_colour(class_id).name()
    assert len(view.tracks_legend.items) == len(view.track_curves)


def test_polarity_is_line_style_and_fill_not_hue(window):
    styles = {}
    for box in window.view.boxes.values():
        styles[box.label.polarity] = (box.pen.style(), box.fill.style() != Qt.BrushStyle.NoBrush,
                                      box.pen.color().name() == class_colour(box.label.class_id).name())
    assert styles[Polarity.POSITIVE] == (Qt.PenStyle.SolidLine, True, True)
    assert styles[Polarity.NEGATIVE] == (Qt.PenStyle.DashLine, False, True)


def test_shown_captions_never_overlap_and_the_toggle_hides_them(window, qtbot):
    view = window.view
    view.set_visible_range(0.0, 60.0)  # zoomed out: more captions than room

    def shown_rects():
        rects = [box.text.sceneBoundingRect() for box in view.boxes.values() if box.text.isVisible()]
        rects += [QRectF(text.scenePos(), text.boundingRect().size()) for _, rect, text in view.detection_items
                  if text.isVisible() and rect.isVisible()]
        return rects

    qtbot.wait(100)
    rects = shown_rects()
    assert rects
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
    hidden = [rect for _, rect, text in view.detection_items if rect.isVisible() and not text.isVisible()]
    assert hidden and all(rect.toolTip() for rect in hidden)  # what is hidden says itself on hover
    window.captions_action.trigger()
    assert not shown_rects()
    window.captions_action.trigger()
    assert shown_rects()
    for change in (lambda: view.view.setYRange(0, view.nyquist / 4, padding=0),  # frequency zoom
                   lambda: window.resize(window.width(), window.height() - 250)):  # a shorter view
        change()
        qtbot.wait(100)
        rects = shown_rects()
        assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
        texts = [box.text for box in view.boxes.values()] + [text for _, _, text in view.detection_items]
        laid_out = [text.isVisible() for text in texts]
        view._layout_captions()
        assert [text.isVisible() for text in texts] == laid_out  # laid out again after the change


REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "maad_spinetail"


@pytest.mark.skipif(not (REAL / "spinetail.wav").exists(), reason="../shared/data/real is not beside the repository")
def test_the_real_spinetail_recording_shows_nested_expert_boxes_readably(qtbot, tmp_path):
    """Expert boxes on a real field recording (Audacity labels, two classes nested in time): each
    class in its colour, captions that never overlap; the screenshot is kept for a look."""
    from tests.gui.windows import new_window

    project = tmp_path / "spinetail"
    assert main(["init", str(project), "--audio", str(REAL / "spinetail.wav")]) == 0
    assert main(["labels", "import", str(project), "--format", "audacity", "--complete", str(REAL / "spinetail.txt"),
                 "--recording", "spinetail.wav"]) == 0
    win = new_window(qtbot, tmp_path, (1500, 900))
    win.open_project(project)
    view = win.view
    qtbot.waitUntil(lambda: view.is_painted() and not view.loader.busy and len(view.boxes) == 18, timeout=20000)
    view.set_visible_range(0.0, view.duration)
    qtbot.wait(200)
    colours = {box.label.class_id: box.pen.color().name() for box in view.boxes.values()}
    assert len(set(colours.values())) == 2  # CRER and SP told apart
    shown = [box.text.sceneBoundingRect() for box in view.boxes.values() if box.text.isVisible()]
    assert shown and not any(a.intersects(b) for i, a in enumerate(shown) for b in shown[i + 1:])
    image = win.grab()
    image.save(str(tmp_path / "spinetail.png"))
    assert image.width() == 1500
    win.close()
