"""Quality on real recordings: which start gives detections worth reviewing (issue 11).

    .venv/bin/python benchmarks/bench_quality.py [--data ../shared/data/real/qut_noisypitta]
        [--starts scratch,imagenet,birdnet,birdnet_fresh,zeroshot,distil] [--epochs N] [--rounds 4]
        [--seeds 0,1] [--work bench-out/quality]
        [--out docs/quality] [--check]

Data: QUT's Noisy Pitta clips (`pos/<recorder>/` 7 clips with 23 expert boxes from two
recorders, `neg/` 75 clips without the species). The split is by recorder, in two folds:
fold A trains on recorder 070005's clips and tests on 060000's, fold B the other way round;
the negative clips are split alternately (sorted by path: even ones train in fold A, odd
ones in fold B). Each fold's training project holds its positive clips with their boxes,
marked reviewed-complete for the species (so their unboxed audio is negative), and its
negative clips marked empty (`birdlab labels empty`). Nothing of a test clip is seen in
training.

Metric: AP of 5 s segments of the test clips (the segments of `birdlab evaluate`, which
`--complete` truth makes positive where an expert box overlaps and negative elsewhere),
a segment scoring the highest frame of the model's score track inside it; the mean over the
two folds (and the training seeds of `--seeds`) is reported. Chance is the share of positive
segments. With 5 (fold A) and 18 (fold B) test calls, a single fold's figure is noisy: compare
means over folds and seeds (docs/quality.md).

Starts (the configs of `birdlab train --start`, birdlab.core.ml.starts): `scratch` (SED
efficientnet_lite0 from random weights, full fine-tune), `imagenet` (the same from ImageNet
weights), `birdnet` (linear head on BirdNET v2.4
embeddings, quick), `birdnet_fresh` (the same head without BirdNET's own output row for the
species: what the labels alone teach it), `zeroshot` (BirdNET v2.4's own output for Pitta versicolor), and
`ensemble` (mean of the imagenet and birdnet tracks, when both ran), and `distil` (the
imagenet start distilled from the fold's birdnet head on the fold's training audio with no
labels: `birdlab train --distil-from`, the teacher's tracks its only targets; `distil-mels64`
the same student at 64 mels (`-fft512`: with a 512-point STFT), `distil-<backbone>` another timm backbone from random weights;
`-labels` added to any of these: the student also has the fold's labels, as a fast copy made in
a labelled project has). Each trains through
`birdlab.core.ml.runs` and `python -m training fit`, exactly as `birdlab train` does, and scores
with `score_recording`, as `birdlab score` does.

The agile loop (`--rounds`): the BirdNET start from the first 5 boxed calls of fold A's
training clips; then each round reviews the top 10 unreviewed detections of the review
queue (by score, over the training clips) with the truth as the reviewer (a detection that
overlaps an expert box is accepted, else rejected), retrains and measures test AP.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from birdlab.core.ml.metrics import average_precision  # noqa: E402
from birdlab.core.model import Box, Polarity, Source  # noqa: E402
from birdlab.core.store.project import Project  # noqa: E402

SPECIES = "Noisy Pitta"  # named like BirdNET's label, so the BirdNET start can use its output row
SEGMENT_S = 5.0


@dataclass
class Clip:
    path: Path
    recorder: str  # pos/<recorder>/ folder, or "neg"
    boxes: list[tuple[float, float, float, float]]  # t_min, t_max, f_min, f_max


def read_clips(data: Path) -> list[Clip]:
    boxes: dict[str, list] = {}
    with open(data / "annotations_flat.csv", newline="") as f:
        for row in csv.DictReader(f):
            boxes.setdefault(row["file"], []).append(
                (float(row["start_s"]), float(row["end_s"]), float(row["low_hz"]), float(row["high_hz"])))
    clips = []
    for path in sorted(data.rglob("*.wav")):
        rel = path.relative_to(data).as_posix()
        recorder = rel.split("/")[1] if rel.startswith("pos/") else "neg"
        clips.append(Clip(path, recorder, boxes.get(rel, [])))
    return clips


def folds(clips: list[Clip]) -> dict[str, tuple[list[Clip], list[Clip]]]:
    """{fold: (train, test)} split by recorder, negatives alternately (see the module docstring)."""
    neg = [c for c in clips if c.recorder == "neg"]
    recorders = sorted({c.recorder for c in clips} - {"neg"})
    a, b = recorders[-1], recorders[0]  # A trains on 070005, tests on 060000

    def pos(rec: str) -> list[Clip]:
        return [c for c in clips if c.recorder == rec]

    return {"A": (pos(a) + neg[0::2], pos(b) + neg[1::2]), "B": (pos(b) + neg[1::2], pos(a) + neg[0::2])}


def make_project(root: Path, train: list[Clip], max_boxes: int | None = None) -> Project:
    """The fold's training project: boxes as positives, every clip reviewed-complete for the species."""
    shutil.rmtree(root, ignore_errors=True)
    project = Project.create(root)
    cls = project.add_class(SPECIES)
    recs, errors = project.add_audio([c.path for c in train])
    assert not errors, errors
    kept = 0
    for clip, rec in zip(train, recs):
        for t0, t1, f0, f1 in clip.boxes:
            if max_boxes is not None and kept >= max_boxes:
                break
            project.add_label(rec.id, cls.id, Box(t0, t1, f0, min(f1, rec.sample_rate / 2)), Polarity.POSITIVE,
                              Source.IMPORT)
            kept += 1
        if max_boxes is None:
            project.add_extent(rec.id, 0.0, rec.duration, [cls.id])
    return project


def _starts() -> dict[str, dict]:
    """The configs of birdlab's own starts (birdlab.core.ml.starts), so the benchmark measures the defaults."""
    from birdlab.core.ml.starts import STARTS as APP_STARTS

    birdnet = json.loads(json.dumps(APP_STARTS["birdnet"].config))
    fresh = json.loads(json.dumps(birdnet))
    fresh["model"]["start_from_embedder"] = False  # what the labels alone teach the head
    return {"scratch": APP_STARTS["scratch"].config, "imagenet": APP_STARTS["imagenet"].config,
            "birdnet": birdnet, "birdnet_fresh": fresh}


STARTS = _starts()


def train(project: Project, config: dict, log: Path, teacher=None) -> tuple[Path, float]:
    """One `birdlab train`-style run (distilling `teacher`, a version, when given); (model file, seconds)."""
    from birdlab.core.ml.runs import iter_events, new_run, register_model, start_child

    t0 = time.monotonic()
    run, job_path = new_run(project, config, start_from=None, teacher=teacher)
    child = start_child(job_path)
    done: dict = {}
    for event in iter_events(child.stdout):
        if event["event"] == "done":
            done = event
    child.wait()
    if done.get("status") != "ok":
        raise RuntimeError(f"training failed: {done.get('error')}; see {job_path.parent}/stderr.txt")
    version = register_model(project, run, Path(done["model_dir"]))
    with open(log, "a") as f:
        f.write(json.dumps({"config": config, "teacher": teacher and teacher.name,
                            "metrics": version.card.get("metrics")}) + "\n")
    return project.model_file(version), time.monotonic() - t0


def tracks_of(model: Path, clips: list[Clip]) -> list[tuple[np.ndarray, float]]:
    """Each clip's species score track and frame hop."""
    from birdlab.scoring import ScoreSettings, score_recording
    from birdlab.scoring.ensemble import load_scorer

    scorer = load_scorer([str(model)])
    out = []
    for clip in clips:
        result = score_recording(clip.path, scorer, ScoreSettings())
        out.append((result.tracks[:, list(result.classes).index(SPECIES)].astype(np.float64), result.frame_hop_s))
    return out


def zero_shot_model(folder: Path) -> Path:
    """BirdNET v2.4's own output for the species as a birdlab model file: the untrained head of the
    birdnet start (BirdNET's row for the class), scored by the same scorer as the trained heads."""
    from birdlab.scoring.embedders import BirdnetEmbedder, birdnet_labels
    from training.config import ModelConfig
    from training.embedding_head import EmbeddingHeadModel, export_head

    path = folder / "zeroshot" / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    embedder = BirdnetEmbedder(threads=2)
    weights, bias = embedder.classifier()
    model = EmbeddingHeadModel(ModelConfig(window_s=3.0, frame_hop_s=1.0), 1, embedder.dim)
    assert model.start_from_embedder([SPECIES], weights, bias, birdnet_labels())
    export_head(model, [SPECIES], path, embedder)
    return path


def distil_student(root: Path, train_clips: list[Clip], teacher_model: Path, config: dict, log: Path,
                   labelled: bool = False) -> tuple[Path, float]:
    """A student distilled from a trained teacher on the fold's training audio; (model file,
    seconds, the teacher's scoring included). Without `labelled`, with no label at all: the
    teacher's score tracks are all it learns from (what `birdlab train --distil-from` does where
    a project has no labels). With it, the fold's training project as the teacher had it (its
    boxes, reviewed-complete): what "Fast copy for batch scoring" does in a labelled project,
    the labels where there are labels and the teacher's tracks elsewhere."""
    from birdlab.core.store.track_cache import save_tracks, tracks_path
    from birdlab.scoring import ScoreSettings, score_recording
    from birdlab.scoring.ensemble import load_scorer

    t0 = time.monotonic()
    if labelled:
        project = make_project(root, train_clips)
        recs = project.recordings()
    else:
        shutil.rmtree(root, ignore_errors=True)
        project = Project.create(root)
        project.add_class(SPECIES)
        recs, errors = project.add_audio([c.path for c in train_clips])
        assert not errors, errors
    teacher = project.add_model_version("teacher")
    scorer = load_scorer([str(teacher_model)])
    for rec in recs:
        result = score_recording(rec.abs_path, scorer, ScoreSettings())
        save_tracks(tracks_path(project, teacher.name, rec.id), result.tracks, result.frame_hop_s, result.classes)
    model, _ = train(project, config, log, teacher=teacher)
    project.close()
    return model, time.monotonic() - t0


def segment_ap(clips: list[Clip], tracks: list[tuple[np.ndarray, float]]) -> tuple[float, float]:
    """(AP, share of positive segments) over the clips' 5 s segments."""
    truth, scores = [], []
    for clip, (track, hop) in zip(clips, tracks):
        import soundfile as sf
        duration = sf.info(str(clip.path)).duration
        for s0 in np.arange(0.0, duration, SEGMENT_S):
            s1 = min(s0 + SEGMENT_S, duration)
            truth.append(any(t0 < s1 and t1 > s0 for t0, t1, _, _ in clip.boxes))
            lo, hi = int(np.floor(s0 / hop)), max(int(np.ceil(s1 / hop)), int(np.floor(s0 / hop)) + 1)
            scores.append(float(track[lo:hi].max()) if len(track[lo:hi]) else 0.0)
    return average_precision(np.array(truth), np.array(scores)), float(np.mean(truth))


def run_starts(args, clips: list[Clip]) -> dict:
    """{start: {"A/seed0": {...}, ..., "mean_ap": mean over folds and seeds}}."""
    results: dict = {}
    for seed in args.seeds:
        for fold, (train_clips, test_clips) in folds(clips).items():
            fold_tracks, teacher_models = {}, {}
            key = f"{fold}/seed{seed}"
            for start in args.starts:
                t0 = time.monotonic()
                if start == "zeroshot":
                    tracks, seconds = tracks_of(zero_shot_model(args.work), test_clips), 0.0
                elif start.startswith("distil"):  # distil (the birdnet head's student), distil_<backbone>
                    teacher = teacher_models.get("birdnet")
                    if teacher is None:
                        project = make_project(args.work / f"fold{fold}-birdnet-{seed}", train_clips)
                        teacher, _ = train(project, {**json.loads(json.dumps(STARTS["birdnet"])), "seed": seed,
                                                     "device": "cpu", "val_fraction": 0.0}, args.work / "log.jsonl")
                        project.close()
                    config = json.loads(json.dumps(STARTS["imagenet"]))
                    parts = start.split("-")[1:]  # distil-mels64, distil-fft512, distil-<timm backbone>, distil-labels
                    for part in parts:
                        if part.startswith("mels"):
                            config["model"]["n_mels"] = int(part.removeprefix("mels"))
                        elif part.startswith("fft"):
                            config["model"]["n_fft"] = int(part.removeprefix("fft"))
                        elif part != "labels":
                            config["model"].update(backbone=part, pretrained=False)
                    if args.epochs:
                        config["epochs"] = args.epochs
                    config.update(seed=seed, device="cpu", val_fraction=0.0)
                    model, seconds = distil_student(args.work / f"fold{fold}-{start}-{seed}", train_clips, teacher,
                                                    config, args.work / "log.jsonl", labelled="labels" in parts)
                    tracks = tracks_of(model, test_clips)
                else:
                    project = make_project(args.work / f"fold{fold}-{start}-{seed}", train_clips)
                    config = json.loads(json.dumps(STARTS[start]))
                    if args.epochs and not start.startswith("birdnet"):
                        config["epochs"] = args.epochs
                    config.update(seed=seed, device="cpu", val_fraction=0.0)
                    model, seconds = train(project, config, args.work / "log.jsonl")
                    teacher_models[start] = model
                    tracks = tracks_of(model, test_clips)
                    project.close()
                fold_tracks[start] = tracks
                ap, chance = segment_ap(test_clips, tracks)
                results.setdefault(start, {})[key] = {"ap": ap, "chance": chance, "train_s": seconds,
                                                      "total_s": time.monotonic() - t0}
                print(f"{key} {start:13s} AP {ap:.3f} (chance {chance:.3f}), train {seconds:.0f} s", flush=True)
            if "imagenet" in fold_tracks and "birdnet" in fold_tracks:
                mixed = [(_on_grid(a, ha, 1.0) * 0.5 + _on_grid(b, hb, 1.0) * 0.5, 1.0)
                         for (a, ha), (b, hb) in zip(fold_tracks["imagenet"], fold_tracks["birdnet"])]
                ap, chance = segment_ap(test_clips, mixed)
                results.setdefault("ensemble", {})[key] = {"ap": ap, "chance": chance}
                print(f"{key} ensemble      AP {ap:.3f}", flush=True)
    for start, runs in results.items():
        runs["mean_ap"] = float(np.mean([v["ap"] for v in runs.values()]))
        runs["chance"] = float(np.mean([v["chance"] for k, v in runs.items() if isinstance(v, dict)]))
    return results


def _on_grid(track: np.ndarray, hop: float, new_hop: float) -> np.ndarray:
    """A track resampled to another frame hop by the max over each new frame."""
    n = int(np.ceil(len(track) * hop / new_hop))
    return np.array([track[int(i * new_hop / hop):max(int((i + 1) * new_hop / hop), int(i * new_hop / hop) + 1)].max()
                     for i in range(n)])


def agile_loop(args, clips: list[Clip]) -> list[dict]:
    """Rounds of 10 review decisions from the truth on fold A's training clips (BirdNET start)."""
    from birdlab.core.store.review import QueueSpec, ReviewQueue
    from birdlab.scoring import ScoreSettings, score_recording
    from birdlab.scoring.ensemble import load_scorer
    from birdlab.scoring.store import store_scores

    train_clips, test_clips = folds(clips)["A"]
    project = make_project(args.work / "agile", train_clips, max_boxes=5)
    cls = project.class_by_name(SPECIES)
    by_rec = {r.id: c for r, c in zip(project.recordings(), train_clips)}
    config = json.loads(json.dumps(STARTS["birdnet"]))
    config.update(seed=0, device="cpu", val_fraction=0.0)
    rounds, compute = [], 0.0
    for round_no in range(args.rounds + 1):
        model, seconds = train(project, config, args.work / "log.jsonl")
        t0 = time.monotonic()
        ap, _ = segment_ap(test_clips, tracks_of(model, test_clips))
        version = project.active_model()
        scorer = load_scorer([str(model)])
        for rec in project.recordings():
            store_scores(project, version.id, rec.id, score_recording(rec.abs_path, scorer, ScoreSettings()))
        compute += seconds + time.monotonic() - t0
        labels = project.labels()
        rounds.append({"round": round_no, "labels": len(labels), "ap": ap, "compute_s": compute})
        print(f"agile round {round_no}: {len(labels)} labels, test AP {ap:.3f}, compute {compute:.0f} s", flush=True)
        if round_no == args.rounds:
            break
        for det in ReviewQueue(project, QueueSpec(version.id)).take(10):  # the app's queue: unreviewed, by score
            clip = by_rec[det.recording_id]
            hit = any(t0 < det.t_max and t1 > det.t_min for t0, t1, _, _ in clip.boxes)
            project.add_label(det.recording_id, cls.id, det.box,
                              Polarity.POSITIVE if hit else Polarity.NEGATIVE, Source.REVIEW, detection_id=det.id)
    project.close()
    return rounds


def plot(results: dict, rounds: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = [s for s in results]
    ax1.bar(names, [results[s]["mean_ap"] for s in names], color="#4a90d9")
    chance = results[names[0]]["chance"] if names else 0
    ax1.axhline(chance, color="grey", ls="--", label=f"chance {chance:.2f}")
    ax1.set_ylim(0, 1)
    ax1.tick_params(axis="x", labelrotation=25)
    ax1.set_ylabel("test AP (5 s segments, mean of folds x seeds)")
    ax1.set_title("Noisy Pitta: start of training")
    ax1.legend()
    if rounds:
        ax2.plot([r["compute_s"] / 60 for r in rounds], [r["ap"] for r in rounds], "o-")
        for r in rounds:
            ax2.annotate(f"{r['labels']}", (r["compute_s"] / 60, r["ap"]), textcoords="offset points", xytext=(3, 3))
        ax2.set_xlabel("compute (minutes)")
        ax2.set_ylabel("test AP (fold A)")
        ax2.set_ylim(0, 1)
        ax2.set_title("agile loop, BirdNET start (labels per round)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/real/qut_noisypitta")
    parser.add_argument("--starts", default="scratch,imagenet,birdnet,birdnet_fresh,zeroshot")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the SED starts (default: the start's)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated (results are averaged)")
    parser.add_argument("--work", type=Path, default=Path("bench-out/quality"))
    parser.add_argument("--out", type=Path, default=None, help="write results.json and quality.png here")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless the orderings issue 11 asks for hold on the means: the BirdNET head "
                             "above zero-shot, ImageNet Lite0 above scratch (for the starts that ran)")
    args = parser.parse_args(argv)
    if not (args.data / "annotations_flat.csv").exists():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    args.starts = [s for s in args.starts.split(",") if s]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    args.work.mkdir(parents=True, exist_ok=True)
    clips = read_clips(args.data)
    results = run_starts(args, clips)
    rounds = agile_loop(args, clips) if args.rounds > 0 else []
    print(json.dumps({"starts": results, "agile": rounds}, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps({"command": " ".join(sys.argv), "starts": results,
                                                           "agile": rounds}, indent=1))
        plot(results, rounds, args.out / "quality.png")
    return 1 if args.check and failed_orderings(results) else 0


ORDERINGS = (("birdnet", "zeroshot"), ("imagenet", "scratch"))  # (must be above, the other)


def failed_orderings(results: dict) -> list[str]:
    """The orderings of ORDERINGS that do not hold on the mean AP (each printed), for the starts that ran."""
    failed = []
    for better, worse in ORDERINGS:
        if better in results and worse in results:
            a, b = results[better]["mean_ap"], results[worse]["mean_ap"]
            ok = a > b
            print(f"check: {better} {a:.3f} {'>' if ok else '<='} {worse} {b:.3f}: {'holds' if ok else 'FAILS'}")
            if not ok:
                failed.append(f"{better} <= {worse}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
