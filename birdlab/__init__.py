"""birdlab: a desktop workbench for bioacoustic review, labelling, retraining and rescoring."""

__version__ = "0.1.0"
