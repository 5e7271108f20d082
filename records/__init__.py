"""What the service keeps a record of, for people to look back at: evaluation runs (more to come)."""
