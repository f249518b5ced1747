"""Singer tap for Cordial."""
