"""Metrics and plots for predictions against measurements."""
