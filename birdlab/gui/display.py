"""Pick Qt's platform before Qt starts, and say in one line what is missing when none works.

Qt aborts the whole process (exit 134, a core dump) when it cannot open a display or when
the xcb plugin lacks a system library; Python never gets a chance to explain. So the checks
run here, before the first QApplication: a screenshot renders offscreen by itself, and a
window without a display, or without the xcb libraries, ends with exit 2 and the fix.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

# Debian packages of the libraries PySide6's libqxcb.so links against (scripts/setup-env.sh
# installs them; `ldd` names the sonames).
XCB_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb-xinput.so.0": "libxcb-xinput0",
    "libX11-xcb.so.1": "libx11-xcb1", "libxcb.so.1": "libxcb1",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0", "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6", "libX11.so.6": "libx11-6",
}


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries `plugin` needs that the loader cannot find (ldd's "not found")."""
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})


def choose_platform(screenshot: bool) -> str | None:
    """Set QT_QPA_PLATFORM where birdlab must choose; return a one-line reason when no window can open."""
    if screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a picture needs no screen
        # the offscreen plugin's uncategorised "does not support propagateSizeHints()" is noise here
        os.environ.setdefault("QT_LOGGING_RULES", "default.warning=false")
        return None
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return None  # the user chose, or macOS/Windows, which always have their own platform
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return ("no display to open a window on (DISPLAY is not set): run birdlab on a desktop, under "
                "`xvfb-run birdlab ...`, or render a picture with --screenshot PNG")
    if os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        plugin = xcb_plugin()
        missing = missing_libraries(plugin) if plugin else []
        if missing:
            packages = sorted({XCB_PACKAGES.get(lib, lib) for lib in missing})
            return (f"Qt's X11 plugin cannot load: missing {', '.join(missing)}; install them with "
                    f"`sudo apt-get install {' '.join(packages)}` (or run scripts/setup-env.sh)")
    return None
