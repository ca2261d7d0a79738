"""birdlab's training backend: SED models fine-tuned on tp/fp labels (DESIGN.md section 5).

Run as `python -m training fit JOB.json`. Imports torch, torchaudio and timm; the app never
imports this package, it starts it as a child process.
"""
