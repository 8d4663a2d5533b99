"""The configuration language: YAML files with positions, JSON Schema, cross-file checks.

This package is the ground floor: it imports nothing else of botfleet's. Everything a user
declares enters the system through `load_fleet`, which returns either a typed fleet or every
problem found in every file, each located at `file:line:col`.
"""

from botfleet.config.loader import FleetLoad, load_fleet
from botfleet.config.problems import ConfigError, Problem

__all__ = ["ConfigError", "FleetLoad", "Problem", "load_fleet"]
