"""Running experiments: the training loop, the `marl` command, Hydra configs, run directories and atomic
file writes."""
