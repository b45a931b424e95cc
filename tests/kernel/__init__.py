"""A real Jupyter kernel driven through jupyter_client."""
