"""Singer tap for Cordial."""

__version__ = "0.1.0"
