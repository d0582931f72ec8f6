"""FSL, the Follow-up Sequence Language."""
__version__ = "0.1.0"
