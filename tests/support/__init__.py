"""What tests share: small files in the published formats, synthetic training inputs, the UI check, references."""
