"""Simulated GoPro cameras: real HTTP servers on loopback addresses, with faults on demand."""
