from .core import CODES, Diagnostic, Span, did_you_mean

__all__ = ["CODES", "Diagnostic", "Span", "did_you_mean"]
