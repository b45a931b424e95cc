"""The security suite: every output scanned for the canary password."""
