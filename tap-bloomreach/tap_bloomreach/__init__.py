"""Singer tap for Bloomreach Engagement (formerly Exponea)."""
