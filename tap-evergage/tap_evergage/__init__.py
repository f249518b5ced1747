"""Singer tap for Salesforce Marketing Cloud Personalization (formerly Evergage)."""
