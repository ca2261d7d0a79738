"""Labels to training and back: frame targets, metrics and evaluation, training jobs and runs, model cards, starts, version comparison."""
