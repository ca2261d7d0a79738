"""The window's model dialogs: Retrain (non-modal: labelling goes on while it trains), Score
folders, and the model report docked beside the review queue."""

from __future__ import annotations

from PySide6.QtCore import Qt

from birdlab.core.ml.eval_report import EvaluationError, EvaluationReport
from birdlab.core.ml.evaluate import evaluate_project
from birdlab.gui.window_layout import add_dock


def open_retrain(win):
    from birdlab.gui.retrain_dialog import RetrainDialog

    if not win.project:
        return None
    win.retrain_dialog = RetrainDialog(win.project, win)
    win.retrain_dialog.modelReady.connect(win._new_model)
    win.retrain_dialog.show()
    return win.retrain_dialog


def show_report(win) -> EvaluationReport | None:
    """Evaluate the active version's detections against the project's labels, in a dock."""
    from birdlab.gui.report_render import ReportPanel

    if not win.project:
        return None
    try:
        report = evaluate_project(win.project, threshold=win.session.threshold)
    except EvaluationError as exc:
        win.statusBar().showMessage(str(exc), 10000)
        return None
    if win.report_panel is None:
        win.report_panel = ReportPanel()
        win.report_dock = add_dock(win, "Model report", win.report_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        win.tabifyDockWidget(win.review_dock, win.report_dock)
    win.report_panel.set_report(report)
    win.report_dock.show()
    win.report_dock.raise_()
    return report


def open_batch(win):
    from birdlab.gui.batch_dialog import BatchDialog

    if not win.project:
        return None
    win.batch_dialog = BatchDialog(win.project, win)
    win.batch_dialog.finishedRun.connect(lambda _: (win._refresh_recordings(), win._show_model_output(),
                                                    win.refresh_review()))
    win.batch_dialog.show()
    return win.batch_dialog
