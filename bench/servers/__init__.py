"""Reference servers the benchmarks compare the gateway with; each runs as its own process."""
