"""Raw sources: the reference genome and the screens, with provenance."""
