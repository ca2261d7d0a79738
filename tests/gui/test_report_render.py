"""The evaluation report as a PNG (QPainter, offscreen) and as the dockable ReportPanel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from birdlab.core.ml.evaluate import evaluate
from birdlab.gui import report_render
from birdlab.gui.report_render import (HEADER_H, PANEL_H, PANEL_W, ReportPanel, nice_ticks, pr_steps,
                                       render_report, save_report_png)
from birdlab.core.model import Polarity
from tests.core.test_evaluate import PRED, TRUTH, lab


@pytest.fixture
def report():
    return evaluate(TRUTH + [lab("r", 1, 2, "C", Polarity.NEGATIVE)], PRED)  # A: AP 5/6, B: AP 1, C: no positives


def ink(image: QImage, x0: int, y0: int, x1: int, y1: int) -> int:
    """Pixels in the box that are not white."""
    return sum(image.pixelColor(x, y) != QColor(255, 255, 255)
               for x in range(x0, x1, 2) for y in range(y0, y1, 2))


def test_png_has_the_right_size_and_every_panel_is_drawn(qapp, tmp_path, report):
    path = save_report_png(report, tmp_path / "plots" / "eval.png", width=1440)
    image = QImage(str(path))
    assert not image.isNull()
    per_row = 1440 // (2 * PANEL_W)  # 2 classes per row: A and B, then C
    assert (image.width(), image.height()) == (1440, HEADER_H + 2 * PANEL_H)
    assert ink(image, 0, 0, 700, HEADER_H) > 200  # the header text
    for i in range(len(report.classes)):
        x, y = (i % per_row) * 720, HEADER_H + (i // per_row) * PANEL_H
        assert ink(image, x, y, x + 360, y + PANEL_H) > 300, f"PR panel {i}"
        assert ink(image, x + 360, y, x + 720, y + PANEL_H) > 300, f"histogram panel {i}"
    assert ink(image, 720, HEADER_H + PANEL_H, 1440, HEADER_H + 2 * PANEL_H) == 0  # no fourth class


def test_the_pr_area_is_filled_up_to_the_ap(qapp, report):
    """Class B (AP 1) is filled over the whole plot, class C (no positives) not at all."""
    image = render_report(report, width=1440)

    def blue_fill(x0: int, y0: int) -> int:
        area = [image.pixelColor(x, y) for x in range(x0 + 80, x0 + 330, 5) for y in range(y0 + 60, y0 + 160, 5)]
        return sum(c.blue() > c.red() + 15 for c in area)

    assert blue_fill(720, HEADER_H) > 500  # B
    assert blue_fill(0, HEADER_H + PANEL_H) == 0  # C
    a = blue_fill(0, HEADER_H)
    assert 0 < a < blue_fill(720, HEADER_H)  # A: part of the area


def test_pr_steps_enclose_the_ap_and_ticks_are_round(report):
    for result in report.classes:
        xs, ys = pr_steps(result)
        area = float(np.sum(np.diff(xs) * ys[:-1])) if len(xs) else float("nan")
        if result.n_pos:
            assert area == pytest.approx(result.ap)
        else:
            assert len(xs) == 0
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 1.05) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 37) == [0, 10, 20, 30]


def test_panel_shows_a_class_and_exports(qtbot, tmp_path, report, monkeypatch):
    panel = ReportPanel()
    qtbot.addWidget(panel)
    assert not panel.png_button.isEnabled()
    panel.set_report(report)
    assert [panel.class_box.itemText(i) for i in range(panel.class_box.count())] == ["A", "B", "C"]
    assert panel.table.rowCount() == 4 and panel.table.item(3, 3).text() == "0.917"
    assert "by construction" not in panel.summary.text()
    xs, ys = panel.pr_curve.getData()
    assert np.allclose(xs, pr_steps(report.result("A"))[0]) and np.allclose(ys, pr_steps(report.result("A"))[1])
    panel.table.selectRow(1)
    assert panel.current_class() == "B"
    assert np.allclose(panel.pr_curve.getData()[1], pr_steps(report.result("B"))[1])
    assert "AP 1.000" in panel.pr_plot.getPlotItem().titleLabel.text
    assert panel.threshold_line.value() == 0.5

    monkeypatch.setattr(report_render.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "panel.csv"), ""))
    with qtbot.waitSignal(panel.exported) as signal:
        panel.csv_button.click()
    assert signal.args == [str(tmp_path / "panel.csv")]
    assert (tmp_path / "panel.csv").read_text() == report.csv_text()
    png = panel.export_png(tmp_path / "panel.png")
    assert QImage(str(png)).width() == 1440

    warnings = []
    monkeypatch.setattr(report_render.QMessageBox, "warning", lambda *a: warnings.append(a[2]))
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(report_render.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(blocker / "x.png"), ""))
    panel.png_button.click()
    assert warnings and str(blocker / "x.png") in warnings[0]


def test_panel_says_when_ap_means_nothing(qtbot):
    panel = ReportPanel()
    qtbot.addWidget(panel)
    panel.set_report(evaluate([t for t in TRUTH if t.polarity is Polarity.POSITIVE], PRED))  # calls only
    assert "AP n/a (no negatives) for A, B" in panel.summary.text()


def test_docked_narrow_the_plots_are_stacked_and_each_gets_the_width(qtbot, report):
    from PySide6.QtWidgets import QBoxLayout

    panel = ReportPanel()
    qtbot.addWidget(panel)
    panel.set_report(report)
    panel.resize(380, 900)  # the right dock's width
    panel.show()
    qtbot.waitUntil(lambda: panel.plots.direction() == QBoxLayout.Direction.TopToBottom)
    qtbot.waitUntil(lambda: panel.pr_plot.width() >= 330 and panel.hist_plot.width() >= 330)
    panel.resize(1200, 700)  # floated wide: side by side
    qtbot.waitUntil(lambda: panel.plots.direction() == QBoxLayout.Direction.LeftToRight)
