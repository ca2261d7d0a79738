"""Audio and what is computed from it: decoding windows, display spectrograms and tiles, playback DSP, fingerprints, the model's features."""
