"""Audio files on disk: finding them under folders, and reading what a project keeps of each
(header, fingerprint, size) without the project, so it can run on worker threads."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from birdlab.core.sound.audio import AudioError, probe
from birdlab.core.failures import os_reason
from birdlab.core.sound.fingerprint import fingerprint

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".w64", ".rf64"}


Probed = tuple  # (resolved path, AudioInfo, fingerprint, size in bytes)


def probe_file(path: Path) -> "Probed | AudioError":
    """What `add_audio` needs of one file, read without the project (safe on worker threads)."""
    try:
        path = path.expanduser().resolve()
        info = probe(path)  # raises AudioError naming the file
        return path, info, fingerprint(path), path.stat().st_size
    except AudioError as exc:
        return exc
    except OSError as exc:
        return AudioError(path, os_reason(exc))


def iter_audio_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given, and audio files found recursively in folders, in a stable order.

    A folder that cannot be listed (no permission, a path past the OS's limit) is yielded
    itself, so that adding it fails with the reason, named like any unreadable file."""
    for item in paths:
        path = Path(item).expanduser()
        if not path.is_dir():
            yield path
            continue
        found: list[Path] = []
        unlisted: list[Path] = []
        for folder, dirs, files in os.walk(path, onerror=lambda exc: unlisted.append(Path(exc.filename))):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [Path(folder) / f for f in files
                      if Path(f).suffix.lower() in AUDIO_SUFFIXES and not f.startswith(".")]
        yield from sorted(found + unlisted)
