"""The keyboard shortcuts, shown by Help > Keyboard shortcuts (F1) and listed in the README."""

SHORTCUTS = [
    ("Drag (left button)", "draw a box: a label of the current class and polarity (inside an unselected box too)"),
    ("Click a box, Ctrl+click", "select it; add it to the selection"),
    ("Drag a selected box or its corners", "move or resize it (only a selected box moves)"),
    ("Alt+drag", "always draw a box, even over the selected one"),
    ("Drag (right button)", "zoom to a time range"),
    ("Drag (middle button), wheel", "pan, zoom time"),
    ("+ / - , Ctrl+= / Ctrl+-", "zoom in / out"),
    ("← / →  (Shift: a page)", "scroll"),
    ("Home / End, Ctrl+0", "start / end, whole recording"),
    ("P / N / U", "positive / negative / uncertain: new boxes and the selected labels"),
    ("L, or Enter in the class box", "give the selected labels the current class"),
    ("Delete", "delete the selected labels"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
    ("R", "mark the visible range reviewed and complete for the current class"),
    ("Space", "play / pause from the cursor"),
    ("Shift+Space", "play the visible range"),
    ("B", "play the selected box, band-limited to its frequencies"),
    ("F1", "this list"),
]

SHORTCUTS_HTML = "<table>" + "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;{v}</td></tr>" for k, v in SHORTCUTS) + \
    "</table>"
