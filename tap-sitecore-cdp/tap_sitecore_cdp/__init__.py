"""Singer tap for Sitecore CDP."""
