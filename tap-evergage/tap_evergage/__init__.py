"""Singer tap for Salesforce Marketing Cloud Personalization (formerly Evergage)."""

__version__ = "0.1.0"
