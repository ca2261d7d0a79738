"""One colour per class, the same for its labels, detections and score track, and stable in a
project: a class keeps its colour from its id (a new class takes the next one). Polarity is never
a hue: it is the line style and fill of a label box (gui/label_items.py)."""

from __future__ import annotations

import zlib

from PySide6.QtGui import QColor

# bright on the dark colormaps, told apart by people with the common colour-vision deficiencies
# better than a hue wheel; none is the white of the hover and review frames
CLASS_COLOURS = ("#4cc9f0", "#ff9f1c", "#b5e48c", "#f72585", "#ffd60a", "#9b5de5", "#00f5d4", "#ff8fab",
                 "#a0c4ff", "#c0fdff", "#fcbf49", "#80ed99")


def class_colour(class_id: int | None, name: str = "") -> QColor:
    """The colour of a project class (by id), or of a class the project does not know (by name)."""
    index = (class_id - 1) if class_id is not None else zlib.crc32(name.encode())
    return QColor(CLASS_COLOURS[index % len(CLASS_COLOURS)])
