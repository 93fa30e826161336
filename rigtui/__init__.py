"""rigtui: run a multi-camera rig from a terminal."""

__version__ = "0.1.0"
