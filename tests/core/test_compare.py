from birdlab.core.ml.compare import ap_table, diff_detections
from birdlab.core.model import Detection


def det(i, rec, cls, t0, t1):
    return Detection.from_values(i, 1, rec, cls, t0, t1, 0, 1000, 0.9)


def test_new_lost_flipped_kept():
    old = [det(1, 1, 1, 0.0, 1.0), det(2, 1, 1, 5.0, 6.0), det(3, 1, 2, 10.0, 11.0), det(4, 2, 1, 0.0, 1.0)]
    new = [det(11, 1, 1, 0.2, 1.1),  # kept
           det(12, 1, 1, 10.1, 10.9),  # flipped (old said class 2 there)
           det(13, 1, 1, 20.0, 21.0),  # new
           det(14, 2, 1, 5.0, 6.0)]  # new: other time on recording 2
    diff = diff_detections(old, new)
    assert (diff.new, diff.lost, diff.flipped, diff.kept) == (2, 2, 1, 1)  # lost: 5-6 s on rec 1, 0-1 s on rec 2
    assert str(diff) == "2 new, 2 lost, 1 flipped, 1 kept"


def test_ap_table_lists_every_class():
    rows = ap_table({"ap": {"a": 0.5}}, {"ap": {"a": 0.7, "b": 0.9}})
    assert rows == [("a", 0.5, 0.7), ("b", None, 0.9)]
    assert ap_table(None, {"ap": {"a": 1.0}}) == [("a", None, 1.0)]


def test_the_change_summary_of_a_new_version_against_its_parent(tmp_path, make_wav):
    from birdlab.core.ml.compare import change_summary
    from birdlab.core.store.project import Project

    with Project.create(tmp_path / "p") as project:
        rec = project.add_recording(make_wav("r.wav", duration=10.0))
        cls = project.add_class("A")
        parent = project.add_model_version("v1", card={"classes": ["A"], "metrics": {"ap": {"A": 0.5}}})
        child = project.add_model_version("v2", parent_id=parent.id, card={
            "classes": ["A"], "metrics": {"ap": {"A": 0.75}}, "parent_metrics": {"ap": {"A": 0.5}}})
        project.set_detections(parent.id, rec.id, [(cls.id, 1.0, 2.0, 0.0, 8000.0, 0.9)])
        project.set_detections(child.id, rec.id, [(cls.id, 1.0, 2.0, 0.0, 8000.0, 0.8),
                                                  (cls.id, 5.0, 6.0, 0.0, 8000.0, 0.7)])
        lines = change_summary(project, child, parent.id, {rec.id})
        # the app sums each rescored recording's diff as it comes: the same words
        from birdlab.core.ml.compare import NO_CHANGE, recordings_diff
        summed = NO_CHANGE + recordings_diff(project, child.id, parent.id, [rec.id])
        assert change_summary(project, child, parent.id, {rec.id}, summed) == lines
    assert lines[0].startswith("On 1 rescored recording(s): ") and lines[0].endswith("(vs v1).")
    assert "1 new" in lines[0] and lines[1] == "Validation AP, old → new: A 0.500 → 0.750"
