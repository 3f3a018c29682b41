"""Servers and helpers the tests and benchmarks share: real HTTP and SMTP on 127.0.0.1."""
