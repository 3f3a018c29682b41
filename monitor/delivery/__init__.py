"""Delivery: digest values, rendering, channels and the exactly-once dispatch."""
