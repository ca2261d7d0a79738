"""Captions that never overlap: the most important ones are shown, the others wait for hover.

Greedy in priority order over screen rectangles, with a coarse grid so each caption is compared
only with those near it (a zoomed-out view can hold 1,500 detection captions)."""

from __future__ import annotations

from collections import defaultdict

from PySide6.QtCore import QRectF

CELL_PX = 120.0


def free_captions(rects: list[QRectF]) -> list[bool]:
    """For rectangles in priority order: whether each can be shown without covering one shown before."""
    grid: dict[tuple[int, int], list[QRectF]] = defaultdict(list)
    shown = []
    for rect in rects:
        cells = [(i, j) for i in range(int(rect.left() // CELL_PX), int(rect.right() // CELL_PX) + 1)
                 for j in range(int(rect.top() // CELL_PX), int(rect.bottom() // CELL_PX) + 1)]
        free = not any(rect.intersects(other) for cell in cells for other in grid[cell])
        if free:
            for cell in cells:
                grid[cell].append(rect)
        shown.append(free)
    return shown
