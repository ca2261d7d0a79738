"""The scoring engine: model files, windowing, score tracks, detections and the batch runner.

Importing this package does not import onnxruntime (that happens when a model is loaded), so
the GUI can import it at start-up. Typical use:

    from birdlab.scoring import ModelBundle, ScoreSettings, score_recording
    scores = score_recording("rec.wav", ModelBundle.load("model.onnx"), ScoreSettings(hop_s=2.5))
    scores.tracks, scores.detections
"""

from birdlab.scoring.bundle import ModelBundle
from birdlab.scoring.detect import DetectSettings
from birdlab.scoring.ensemble import Ensemble, load_scorer
from birdlab.scoring.metadata import ModelFileError, ModelMetadata
from birdlab.scoring.postprocess import PostSettings
from birdlab.scoring.recording import RecordingScores, ScoredBox, ScoreSettings, redetect, score_recording
from birdlab.scoring.scorer import Scorer

__all__ = ["DetectSettings", "Ensemble", "ModelBundle", "ModelFileError", "ModelMetadata", "PostSettings",
           "RecordingScores", "ScoreSettings", "ScoredBox", "Scorer", "load_scorer", "redetect", "score_recording"]
