"""The time axis: round steps with the unit in the title, and the time of day from file names."""

from datetime import datetime

import pytest

from birdlab.gui.axes import TIME_STEPS, format_time, time_steps, time_unit


@pytest.mark.parametrize("span, pixels, step", [(3600, 1000, 600), (600, 1000, 60), (25, 1000, 5), (1.0, 900, 0.1),
                                                (36000, 1200, 3600)])
def test_ticks_land_on_round_steps(span, pixels, step):
    major, minor = time_steps(span, pixels)
    assert major == step and minor < major and minor in TIME_STEPS
    assert major * pixels / span >= 90  # labels never crowd
    assert format_time(2 * major, major) != format_time(3 * major, major)


def test_the_title_names_the_unit():
    assert time_unit(30, 5) == "s"
    assert time_unit(600, 60) == "m:ss"
    assert time_unit(7200, 600) == "h:mm:ss"


def test_the_axis_reads_the_time_of_day_when_the_start_is_known(qtbot, make_wav):
    from birdlab.gui.spectrogram_view import SpectrogramView, ViewSettings

    path = make_wav("S4A01234_20240601_053000.wav", duration=30.0, sample_rate=8000)
    view = SpectrogramView()
    qtbot.addWidget(view)
    view.set_recording(str(path), 8000, 30 * 8000, 1)
    assert view.time_axis.clock_start == datetime(2024, 6, 1, 5, 30, 0)
    assert view.time_axis.tickStrings([0.0, 10.0], 1.0, 10.0) == ["05:30:00", "05:30:10"]
    view.apply_settings(ViewSettings(clock_time=False))  # View > Clock time from file names, off
    assert view.time_axis.clock_start is None
    assert view.time_axis.tickStrings([0.0, 10.0], 1.0, 10.0) == ["0", "10"]
    other = make_wav("site01.wav", duration=5.0, sample_rate=8000)
    view.apply_settings(ViewSettings())
    view.set_recording(str(other), 8000, 5 * 8000, 1)
    assert view.time_axis.clock_start is None  # no stamp in the name: seconds
