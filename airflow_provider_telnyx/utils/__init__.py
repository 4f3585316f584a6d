"""Internal helpers of the provider (rate limiting, worker pools, waiting); not a public API."""
