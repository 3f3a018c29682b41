"""Ingest: bytes in, typed entries out (fetch, robots.txt, full text, parse, seeds)."""
