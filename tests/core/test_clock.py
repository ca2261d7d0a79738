"""Start times from recorders' file names."""

from datetime import datetime

import pytest

from birdlab.core.clock import start_time_from_name

T = datetime(2024, 6, 1, 5, 30, 0)


@pytest.mark.parametrize("name", [
    "20240601_053000.WAV",  # AudioMoth
    "/data/site1/SM4_20240601_053000.wav",  # Song Meter SM4
    "S4A01234_20240601_053000.wav",  # Song Meter Mini (serial prefix)
    "S4A01234_20240601_053000_000.wav",  # Song Meter with a part suffix
    "2024-06-01T05-30-00.flac",
    "site3_2024-06-01_05:30:00.wav",
    "20240601T053000.wav",
])
def test_recorder_names_give_their_start_time(name):
    assert start_time_from_name(name) == T


@pytest.mark.parametrize("name", ["site01.wav", "rec_20240601.wav", "20241301_053000.wav", "20240601_256000.wav",
                                  "x120240601_053000.wav"])
def test_names_without_a_real_time_give_none(name):
    assert start_time_from_name(name) is None
