"""HTTP clients for what runs in a worker pod: the COCOON runner (and Triton)."""
