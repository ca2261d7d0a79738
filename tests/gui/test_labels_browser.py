"""The project-wide labels browser: every recording's labels, paged from SQL, filtered, sorted,
edited in place and a jump to the box."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit

from birdlab.core.model import Box, Polarity
from birdlab.core.store.project import new_label
from birdlab.gui.labels_browser import COLUMNS, PAGE


def _show_browser(window, qtbot):
    window.browser_dock.raise_()
    browser = window.labels_browser
    qtbot.waitUntil(browser.isVisible, timeout=3000)
    qtbot.waitUntil(lambda: browser.model.total == len(window.project.labels()), timeout=5000)
    return browser


def _row_of(browser, label_id: int) -> int:
    return next(i for i, row in enumerate(browser.model.rows) if row.label.id == label_id)


def test_the_browser_pages_through_every_recordings_labels(window, qtbot):
    project = window.project
    recs = project.recordings()
    cls = project.classes()[0]
    project.add_labels([new_label(recs[-1].id, cls.id, Box(0.01 * i, 0.01 * i + 0.5, 1000.0, 2000.0),
                                  tags=["bulk"]) for i in range(PAGE + 100)])
    browser = _show_browser(window, qtbot)
    total = len(project.labels())
    assert browser.model.rowCount() == PAGE < total  # one page read, not the whole project
    browser.table.scrollToBottom()
    qtbot.waitUntil(lambda: browser.model.rowCount() > PAGE, timeout=5000)  # the next page as it scrolls
    assert "label(s)" in browser.count.text() and f"{total:,}" in browser.count.text()
    folders = {browser.model.index(r, 0).data() for r in range(browser.model.rowCount())}
    assert len(folders) == len({label.recording_id for label in project.labels()})  # a recording column

    QTest.keyClicks(browser.filter, "bulk")
    qtbot.waitUntil(lambda: browser.model.total == PAGE + 100, timeout=5000)
    browser.filter.clear()
    qtbot.waitUntil(lambda: browser.model.total == total, timeout=5000)

    header = browser.table.horizontalHeader()
    duration = COLUMNS.index("duration (s)")
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=header.rect().topLeft() + _section_centre(header, duration))
    qtbot.waitUntil(lambda: browser.model.query.sort == "duration (s)", timeout=3000)
    values = [float(browser.model.index(r, duration).data()) for r in range(browser.model.rowCount())]
    assert values == sorted(values) or values == sorted(values, reverse=True)


def _section_centre(header, column):
    from PySide6.QtCore import QPoint
    return QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) // 2, header.height() // 2)


def test_the_browser_edits_in_place_and_jumps_to_the_box(window, qtbot):
    project = window.project
    other = next(r for r in project.recordings() if r.id != window.recording.id)
    cls = project.classes()[0]
    label = project.add_label(other.id, cls.id, Box(3.0, 3.8, 1500.0, 3500.0), Polarity.POSITIVE)
    browser = _show_browser(window, qtbot)
    browser.filter.setText("")
    qtbot.waitUntil(lambda: any(row.label.id == label.id for row in browser.model.rows), timeout=5000)

    index = browser.model.index(_row_of(browser, label.id), COLUMNS.index("tags"))
    browser.table.setCurrentIndex(index)
    QTest.keyClick(browser.table, Qt.Key.Key_F2)
    editor = next(w for w in browser.table.viewport().findChildren(QLineEdit) if w.isVisible())
    QTest.keyClicks(editor, "quality:2; overlap")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: project.label(label.id).tags == ("quality:2", "overlap"), timeout=3000)
    qtbot.waitUntil(lambda: browser.model.rows[_row_of(browser, label.id)].label.tags == ("quality:2", "overlap"),
                    timeout=3000)  # the browser reads the edit back
    window.undo_stack.undo()  # one undo stack for every table
    assert project.label(label.id).tags == ()

    qtbot.waitUntil(lambda: browser.model.rows[_row_of(browser, label.id)].label.tags == (), timeout=3000)
    start = browser.model.index(_row_of(browser, label.id), COLUMNS.index("start (s)"))
    browser.table.scrollTo(start)
    rect = browser.table.visualRect(start)
    QTest.mouseClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.recording.id == other.id, timeout=5000)
    assert window.view.selected_ids() == [label.id]
    t0, t1 = window.view.visible_range()
    assert t0 <= 3.0 and 3.8 <= t1  # the box is in view
    assert window.labels_table.selected_ids() == [label.id]
