"""When a recording started, from its file name (recorders write the start time into it).

AudioMoth `20240601_053000.WAV`, Song Meter `SM4_20240601_053000.wav` and
`S4A01234_20240601_053000.wav`, and the common variants with `T`, `-` or `:` between the parts
(`2024-06-01T05-30-00`). The time is the recorder's clock (often UTC for AudioMoth): no zone is
guessed."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePath

STAMP = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[_T\- ](\d{2})[-:]?(\d{2})[-:]?(\d{2})(?!\d)")


def start_time_from_name(name: str) -> datetime | None:
    """The start time a file name carries, or None (no stamp, or one that is not a real time)."""
    match = STAMP.search(PurePath(name).stem)
    if match is None:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()))
    except ValueError:  # 20241301_250000: digits, not a time
        return None
