"""What every room may import: the error base, source locations, the diagnostic record and its codes, and
the limits on what a spec may ask for. Imports nothing else of causalc."""
