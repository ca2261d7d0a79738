"""Small ONNX model files for the scoring tests, built with onnx.helper (no torch).

The "band model": for class c, the framewise probability is
    sigmoid(scale * (mean over the STFT frames in output frame k of
                     mean over the bins of band c of log(power + 1e-10)) + bias)
and clipwise is the max over frames. `band_reference` computes the same in numpy, so a
test can predict the model's output exactly. `slow` adds MatMuls with an identity matrix
whose result is multiplied by zero: the output is unchanged, the model just takes longer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from birdlab.core.sound.features import StftSpec, stft_power

onnx = __import__("pytest").importorskip("onnx", reason="the scoring tests build ONNX files with the onnx package")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

EPS = 1e-10


def default_metadata(classes: list[str], sample_rate: int, window_s: float, frame_hop_s: float,
                     spec: StftSpec) -> dict[str, str]:
    return {
        "birdlab.format": "1",
        "classes": json.dumps(classes),
        "sample_rate": str(sample_rate),
        "window_s": str(window_s),
        "frame_hop_s": str(frame_hop_s),
        "input": json.dumps(spec.to_json()),
        "frontend": json.dumps({"kind": "test-band-mean", "log_eps": EPS}),
        "backbone": "band-test",
        "parent": "",
        "created": "2024-01-01T00:00:00Z",
        "training_run": "",
    }


def _band_weights(spec: StftSpec, sample_rate: int, bands: list[tuple[float, float]]) -> np.ndarray:
    freqs = np.arange(spec.n_bins) * sample_rate / spec.n_fft
    w = np.zeros((spec.n_bins, len(bands)), dtype=np.float32)
    for c, (lo, hi) in enumerate(bands):
        sel = (freqs >= lo) & (freqs < hi)
        assert sel.any(), f"band {lo}-{hi} Hz holds no bin"
        w[sel, c] = 1.0 / sel.sum()
    return w


def _pool_matrix(spec: StftSpec, sample_rate: int, window_s: float, frame_hop_s: float) -> np.ndarray:
    n = int(round(window_s * sample_rate))
    t_frames = spec.n_frames(n)
    out_frames = int(round(window_s / frame_hop_s))
    centres = np.arange(t_frames) * spec.hop + spec.n_fft / 2
    k = np.minimum((centres / (frame_hop_s * sample_rate)).astype(int), out_frames - 1)
    p = np.zeros((t_frames, out_frames), dtype=np.float32)
    p[np.arange(t_frames), k] = 1.0
    counts = p.sum(axis=0)
    assert (counts > 0).all(), "an output frame holds no STFT frame"
    return p / counts


def band_model(path: Path, classes: list[str], bands: list[tuple[float, float]], *, sample_rate: int = 16000,
               window_s: float = 2.0, frame_hop_s: float = 0.1, spec: StftSpec = StftSpec(512, 160),
               scale: float = 1.0, bias: float = 0.0, slow: int = 0,
               metadata: dict[str, str | None] | None = None, input_name: str = "power",
               out_classes: int | None = None, static_dims: bool = True, activation: str = "sigmoid") -> Path:
    """Write a band model to `path`. metadata: overrides (None deletes a key).
    out_classes: make the graph output this many classes (to test the size check).
    activation: "sigmoid" (probabilities), or a broken model's "identity" (raw logits) or "nan"."""
    n_out = out_classes or len(classes)
    bands_out = (bands * n_out)[:n_out] if n_out != len(bands) else bands
    w = _band_weights(spec, sample_rate, bands_out)
    p = _pool_matrix(spec, sample_rate, window_s, frame_hop_s)
    t_frames, out_frames = p.shape
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(p, "P"),
             numpy_helper.from_array(np.array(EPS, np.float32), "eps"),
             numpy_helper.from_array(np.array(scale, np.float32), "scale"),
             numpy_helper.from_array(np.array(bias, np.float32), "bias")]
    nodes = [
        helper.make_node("Add", [input_name, "eps"], ["p_eps"]),
        helper.make_node("Log", ["p_eps"], ["logp"]),
        helper.make_node("MatMul", ["logp", "W"], ["band"]),  # [B, T, C]
        helper.make_node("Transpose", ["band"], ["band_t"], perm=[0, 2, 1]),  # [B, C, T]
        helper.make_node("MatMul", ["band_t", "P"], ["pooled_t"]),  # [B, C, O]
        helper.make_node("Transpose", ["pooled_t"], ["pooled"], perm=[0, 2, 1]),  # [B, O, C]
        helper.make_node("Mul", ["pooled", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["z0"]),
    ]
    z = "z0"
    if slow:
        inits += [numpy_helper.from_array(np.eye(spec.n_bins, dtype=np.float32), "I"),
                  numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
        h = "logp"
        for i in range(slow):
            nodes.append(helper.make_node("MatMul", [h, "I"], [f"slow{i}"]))
            h = f"slow{i}"
        nodes += [helper.make_node("ReduceMean", [h], ["slow_mean"], keepdims=0),
                  helper.make_node("Mul", ["slow_mean", "zero"], ["slow_zero"]),
                  helper.make_node("Add", ["z0", "slow_zero"], ["z1"])]
        z = "z1"
    if activation == "nan":  # sqrt(-(|z| + 1)) is NaN everywhere
        inits.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
        nodes += [helper.make_node("Abs", [z], ["z_abs"]), helper.make_node("Add", ["z_abs", "one"], ["z_pos"]),
                  helper.make_node("Neg", ["z_pos"], ["z_neg"]), helper.make_node("Sqrt", ["z_neg"], ["z_nan"])]
    activation_node = (helper.make_node("Sigmoid", [z], ["framewise"]) if activation == "sigmoid" else
                       helper.make_node("Identity", ["z_nan" if activation == "nan" else z], ["framewise"]))
    nodes += [activation_node,
              helper.make_node("ReduceMax", ["framewise"], ["clipwise"], axes=[1], keepdims=0)]
    dims_in = ["batch", t_frames, spec.n_bins] if static_dims else ["batch", "frames", "bins"]
    dims_fw = ["batch", out_frames, n_out] if static_dims else ["batch", "out_frames", "classes"]
    dims_cw = ["batch", n_out] if static_dims else ["batch", "classes"]
    graph = helper.make_graph(
        nodes, "band_model",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims_in)],
        [helper.make_tensor_value_info("framewise", TensorProto.FLOAT, dims_fw),
         helper.make_tensor_value_info("clipwise", TensorProto.FLOAT, dims_cw)],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="birdlab-tests")
    model.ir_version = 8
    props = default_metadata(classes, sample_rate, window_s, frame_hop_s, spec)
    for key, value in (metadata or {}).items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def band_reference(audio: np.ndarray, bands: list[tuple[float, float]], *, sample_rate: int = 16000,
                   window_s: float = 2.0, frame_hop_s: float = 0.1, spec: StftSpec = StftSpec(512, 160),
                   scale: float = 1.0, bias: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of `band_model`: audio [batch, samples] -> (framewise, clipwise)."""
    power = stft_power(np.atleast_2d(audio), spec).astype(np.float64)
    band = np.log(power + EPS) @ _band_weights(spec, sample_rate, bands).astype(np.float64)
    pooled = np.einsum("btc,to->boc", band, _pool_matrix(spec, sample_rate, window_s, frame_hop_s))
    framewise = 1.0 / (1.0 + np.exp(-(scale * pooled + bias)))
    return framewise.astype(np.float32), framewise.max(axis=1).astype(np.float32)


def tone_file(path: Path, duration: float, sample_rate: int, events: list[tuple[float, float, float]],
              noise: float = 1e-4, seed: int = 0, subtype: str = "PCM_16") -> Path:
    """A WAV of faint noise with sine tones (t0, t1, freq) at amplitude 0.3."""
    import soundfile as sf

    n = int(round(duration * sample_rate))
    rng = np.random.default_rng(seed)
    audio = rng.normal(0.0, noise, n)
    t = np.arange(n) / sample_rate
    for t0, t1, freq in events:
        sel = (t >= t0) & (t < t1)
        audio[sel] += 0.3 * np.sin(2 * np.pi * freq * t[sel])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.astype(np.float32), sample_rate, subtype=subtype)
    return path
