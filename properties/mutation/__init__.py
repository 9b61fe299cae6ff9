"""Mutation testing: does the property suite notice when the program (or the model) is broken?

`c_mutants` generates mutants of the Choir program's C source with named operators, `execute` builds and
campaigns one mutant, `session` runs many (on a Dask cluster, with a verdict cache and the committed list of
equivalent mutants), `report` tabulates them, and `model_mutants` is the catalogue of broken model rule sets.
`choir mutate` is the command line over all of it.
"""
