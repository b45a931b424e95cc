"""The fault suite: a dedicated server the tests kill, crash and restart."""
