"""The load-test harness behind ``make bench`` (see bench/README.md); not part of the app."""
