"""Trained models with their predictions and checkpoints."""
