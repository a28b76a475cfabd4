"""The arrears portfolio model: a SimPy agent-based simulation of delinquent accounts under a collection policy."""

from sim.errors import ConfigError
from sim.scenario import Scenario
from sim.simulate import SimulationResult, simulate

__all__ = ["ConfigError", "Scenario", "SimulationResult", "simulate"]
