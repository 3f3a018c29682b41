"""news-monitor: a self-hosted, scheduled, multilingual news-monitoring service."""

__version__ = "0.1.0"
