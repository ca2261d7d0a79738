"""The embedding review orders in the app: picked in the Review panel, ranked from the project's index."""

from __future__ import annotations

from birdlab.core.model import Box, Polarity, Source
from birdlab.core.store.review import QueueSpec, ReviewFilter
from birdlab.scoring.active_learning import NEAR_POSITIVES, near_positives
from birdlab.scoring.similarity import latest_index
from tests.gui.windows import new_window
from tests.scoring.test_active_learning import make_project


def test_near_my_positives_orders_the_queue_from_the_index(qtbot, tmp_path):
    project, cls, model, recs = make_project(tmp_path)
    project.set_active_model(model.id)
    project.add_label(recs["r1.wav"].id, cls.id, Box(1.0, 1.5, 500.0, 1500.0), Polarity.POSITIVE, Source.MANUAL)
    expected = near_positives(project, latest_index(project.cache_dir), QueueSpec(model.id, ReviewFilter()))
    project.close()
    win = new_window(qtbot, tmp_path, (1200, 800))
    win.open_project(tmp_path / "p")
    win.review.autoplay.setChecked(False)
    scored = [d.id for d in win.review.model.items]
    win.review.order_box.setCurrentText(NEAR_POSITIVES)
    assert [d.id for d in win.review.model.items] == expected != scored
    win.close()


def test_without_an_index_the_order_falls_back_to_uncertainty_and_says_why(qtbot, tmp_path):
    project, cls, model, recs = make_project(tmp_path)
    project.set_active_model(model.id)
    project.close()
    import shutil
    shutil.rmtree(tmp_path / "p" / "cache" / "index")
    win = new_window(qtbot, tmp_path, (1200, 800))
    win.open_project(tmp_path / "p")
    win.review.order_box.setCurrentText(NEAR_POSITIVES)
    assert "needs the embedding index" in win.statusBar().currentMessage()
    win.review.order_box.setCurrentText("uncertainty")
    uncertainty = [d.id for d in win.review.model.items]
    win.review.order_box.setCurrentText(NEAR_POSITIVES)
    assert [d.id for d in win.review.model.items] == uncertainty
    win.close()
