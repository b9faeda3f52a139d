"""One module per area of the CIS benchmarks a host check covers."""
