"""A process killed with SIGKILL mid-way through label edits loses nothing it had committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from birdlab.core.model import Polarity
from birdlab.core.store.project import Project

EDITOR = textwrap.dedent("""
    import sys
    from birdlab.core.model import Box, Polarity
    from birdlab.core.store.project import Project

    project = Project.open(sys.argv[1])
    rec = project.recordings()[0]
    cls = project.classes()[0]
    i = 0
    while True:  # add, then edit, then sometimes delete: report each once it returns
        t = (i % 90) * 0.1
        label = project.add_label(rec.id, cls.id, Box(t, t + 0.5, 100.0, 2000.0))
        print("add", label.id, flush=True)
        project.update_label(label.id, polarity=Polarity.NEGATIVE)
        print("neg", label.id, flush=True)
        if i % 3 == 0:
            project.delete_labels([label.id])
            print("del", label.id, flush=True)
        i += 1
""")


def test_sigkill_during_edits_keeps_every_committed_edit(tmp_path, make_wav):
    with Project.create(tmp_path / "proj") as project:
        project.add_recording(make_wav(duration=10.0))
        project.add_class("A")
    proc = subprocess.Popen([sys.executable, "-c", EDITOR, str(tmp_path / "proj")],
                            stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    reported: list[tuple[str, int]] = []
    deadline = time.monotonic() + 60
    while len(reported) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        action, label_id = line.split()
        reported.append((action, int(label_id)))
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of the next edit
    proc.wait()
    assert len(reported) >= 300, "the editor did not get going"

    expected: dict[int, str] = {}
    for action, label_id in reported:
        if action == "del":
            expected.pop(label_id)
        else:
            expected[label_id] = action
    with Project.open(tmp_path / "proj") as project:
        assert project.integrity_problems() == []
        stored = {label.id: label for label in project.labels()}
        # Everything reported is there as reported; at most the one edit in flight is extra.
        for label_id, action in expected.items():
            assert label_id in stored
            if action == "neg":
                assert stored[label_id].polarity == Polarity.NEGATIVE
        assert len(set(stored) - set(expected)) <= 1
        deleted = {i for a, i in reported if a == "del"}
        assert not deleted & set(stored)


@pytest.mark.parametrize("text, message", [
    ("null", "should be an object, not null"),
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    ('{"classes": "a"}', "$.classes: should be a list, not a text"),
    ('{"classes": []}', "$.classes: a model needs at least one class"),
    ('{"classes": ["a"], "metrics": {"cmap": "high"}}', "$.metrics.cmap: should be a number"),
    ('{"classes": ["a"], "metrics": []}', "$.metrics: should be an object"),
])
def test_a_broken_model_card_is_named_with_its_place(tmp_path, text, message):
    from birdlab.core.store.project import ProjectError
    from birdlab.core.ml.runs import read_card
    card = tmp_path / "card.json"
    card.write_text(text)
    with pytest.raises(ProjectError) as info:
        read_card(card)
    assert str(card) in str(info.value) and message in str(info.value)


def test_a_card_with_nan_metrics_reads(tmp_path):
    from birdlab.core.ml.runs import read_card
    card = tmp_path / "card.json"
    card.write_text('{"classes": ["a"], "metrics": {"cmap": NaN}}')
    read = read_card(card)
    assert read.classes == ["a"] and read.cmap is None and read.cmap_text() == "validation cmAP n/a"
