"""Experiments: configs, the runner over policies and seeds, metrics files, the report and the CLI."""

from experiments.config import ExperimentConfig, LoadedExperiment, load_config
from experiments.runner import ExperimentResult, run

__all__ = ["ExperimentConfig", "ExperimentResult", "LoadedExperiment", "load_config", "run"]
