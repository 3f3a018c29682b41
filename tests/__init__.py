"""news-monitor's tests (a package, so that tests.support imports)."""
