"""The time axis: round steps with the unit in the title, and the time of day from file names."""

from datetime import datetime

import pytest

from birdlab.gui.axes import TIME_STEPS, TimeAxis, format_time, time_steps, time_unit


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


@pytest.mark.parametrize("lo, hi, pixels", [(1200.0, 1230.0, 1400), (0.0, 3600.0, 1400), (12.3, 13.1, 800),
                                             (-0.5, 10.25, 300), (1e5, 1e5 + 7, 1000), (0.0, 0.004, 900)])
def test_time_ticks_are_pyqtgraphs_without_its_numpy_cost(qtbot, lo, hi, pixels):
    """TimeAxis.tickValues, in plain Python, gives pyqtgraph's ticks (a tick exactly on an end of
    the range may differ by float rounding; it is drawn or not, never moved)."""
    import pyqtgraph as pg

    axis = TimeAxis("bottom")
    ours, theirs = axis.tickValues(lo, hi, pixels), pg.AxisItem.tickValues(axis, lo, hi, pixels)
    assert [s for s, _ in ours] == pytest.approx([s for s, _ in theirs])
    for (spacing, mine), (_, ref) in zip(ours, theirs):
        def inside(values: list[float]) -> list[float]:
            return [v for v in values if lo + spacing / 100 < v < hi - spacing / 100]
        assert inside(mine) == pytest.approx(inside(ref), abs=spacing / 1000)
        assert len(mine) - len(inside(mine)) <= 2
