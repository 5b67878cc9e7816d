"""Asset domains, loaded by `torchcell_assets.definitions` with `load_from_defs_folder`."""
