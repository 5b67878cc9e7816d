"""Strain design: candidate multi-gene deletions ranked by a trained model, with uncertainty."""
