"""The FSL runtime: the engine that executes compiled plans, and the
simulator built on it.  See README.md in this folder for the modules and the
decisions taken where the specification is silent.  (Nothing is imported
here, so `fsl check` stays fast.)"""
