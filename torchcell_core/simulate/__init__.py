"""Screen simulators that write the published file formats, with the noise-free truth beside them.

Everything they write is simulated and says so (a `SIMULATED.json` manifest and a
`simulated` flag in every downstream metadata block).
"""
