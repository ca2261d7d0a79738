"""The shortcuts list (Help > Keyboard shortcuts, F1): the mouse and the view's own keys, then every
action of the window that has a shortcut, read from the actions themselves so the list cannot
fall behind them."""

from __future__ import annotations

from html import escape

# what the spectrogram view handles itself (mouse and navigation keys): not actions
VIEW_INPUT = [
    ("Drag (left button)", "draw a box: a label of the current class and polarity (inside an unselected box too)"),
    ("Click a box, Ctrl+click", "select it; add it to the selection"),
    ("Drag a selected box or its corners", "move or resize it (only a selected box moves)"),
    ("Alt+drag", "always draw a box, even over the selected one"),
    ("Drag (right button)", "zoom to a time range"),
    ("Drag (middle button), wheel", "pan, zoom time"),
    ("+ / - , Ctrl+= / Ctrl+-", "zoom in / out"),
    ("\u2190 / \u2192  (Shift: a page)", "scroll"),
    ("Home / End, Ctrl+0", "start / end, whole recording"),
]


def action_shortcuts(actions) -> list[tuple[str, str]]:
    """(keys, what) for every action with a shortcut, in the order given, each once."""
    rows, seen = [], set()
    for action in actions:
        keys = " / ".join(k.toString() for k in action.shortcuts() if not k.isEmpty())
        what = action.text().replace("&", "")
        if keys and (keys, what) not in seen:
            seen.add((keys, what))
            rows.append((keys, what))
    return rows


def shortcuts_html(actions) -> str:
    rows = VIEW_INPUT + action_shortcuts(actions)
    return ("<table>" + "".join(f"<tr><td><b>{escape(k)}</b></td><td>&nbsp;{escape(v)}</td></tr>" for k, v in rows)
            + "</table><p>Single keys work whatever has the focus, except in a text field being typed in "
              "(the class box takes text when clicked; Enter hands the keys back).</p>")
