"""All SQL of the service. Functions take a Session first, never commit, return plain data."""
