"""Singer tap for Bloomreach Engagement (formerly Exponea)."""

__version__ = "0.1.0"
