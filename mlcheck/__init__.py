"""mlcheck: a deployment-readiness checker for machine-learning models."""

__version__ = "0.1.0"
