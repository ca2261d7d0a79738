"""The desktop app (PySide6 + pyqtgraph): Qt views over the Qt-free project and scorer.

The only package that imports Qt. It never imports `training`: training runs as a child
process (birdlab.core.ml.runs).
"""
