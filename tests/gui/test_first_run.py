"""The first run on a bare machine: no display, a screenshot without one, broken inputs that
used to leave a modal dialog waiting for a click. Each runs `birdlab` as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from birdlab.gui.display import choose_platform, missing_libraries, xcb_plugin

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="X11 and offscreen are Linux's platforms")


def birdlab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m birdlab ARGS` with no display and no Qt platform chosen, as on a bare server."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "birdlab", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_without_a_display_the_app_says_so_in_one_line(tmp_path):
    result = birdlab("gui")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no display" in result.stderr and "xvfb-run" in result.stderr


def test_a_screenshot_needs_no_display(tmp_path, make_wav):
    make_wav("song.wav", duration=3.0)
    out = tmp_path / "shot.png"
    result = birdlab("gui", str(tmp_path / "song.wav"), "--screenshot", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 10_000


def test_a_screenshot_of_broken_input_exits_instead_of_waiting_for_a_click(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is a text file, not audio\n")
    result = birdlab("gui", str(fake), "--screenshot", str(tmp_path / "a.png"), timeout=60)
    assert result.returncode == 2 and "notes.wav" in result.stderr
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "project.sqlite").write_bytes(b"not a database at all" * 100)
    result = birdlab("gui", str(corrupt), "--screenshot", str(tmp_path / "b.png"), timeout=60)
    assert result.returncode == 2 and "project" in result.stderr
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()


def test_the_screenshot_option_chooses_offscreen_itself(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert choose_platform(screenshot=True) is None and os.environ["QT_QPA_PLATFORM"] == "offscreen"
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in choose_platform(screenshot=False)


def test_a_missing_xcb_library_is_named_with_the_package_to_install(monkeypatch):
    import birdlab.gui.display as display
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(display, "missing_libraries", lambda plugin: ["libxcb-icccm.so.4"])
    monkeypatch.setattr(display, "xcb_plugin", lambda: Path("libqxcb.so"))
    problem = choose_platform(screenshot=False)
    assert "libxcb-icccm.so.4" in problem and "apt-get install libxcb-icccm4" in problem


@pytest.mark.skipif(xcb_plugin() is None, reason="PySide6 is not installed with its xcb plugin")
def test_the_xcb_plugin_finds_every_library_it_links_against():
    """What scripts/setup-env.sh installs is enough for a window on X11 (ldd: nothing "not found")."""
    assert missing_libraries(xcb_plugin()) == []


def test_the_demo_goes_to_the_user_data_folder_not_the_current_one(monkeypatch, tmp_path):
    from birdlab.cli import build_parser
    from birdlab.core.synthetic.demo import default_demo_folder
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_demo_folder() == tmp_path / "data" / "birdlab" / "demo"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_demo_folder() == Path.home() / ".local" / "share" / "birdlab" / "demo"
    assert build_parser().parse_args(["demo"]).dir is None
