"""The standalone demo host behind `session-manager demo`."""

from .app import DemoHost, build_app, default_model_path, run

__all__ = ["DemoHost", "build_app", "default_model_path", "run"]
