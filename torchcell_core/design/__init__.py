"""Strain design: rank candidate multi-gene deletions with a trained model's predictions and uncertainty."""
