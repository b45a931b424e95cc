"""Pure code, no server: each file tests one module."""
