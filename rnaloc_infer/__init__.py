"""rnaloc-infer: RNA subcellular localisation from sequence (lean runtime: numpy + onnxruntime)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnaloc-infer")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "Predictor", "Prediction"]


def __getattr__(name: str):
    """Lazy re-exports: `import rnaloc_infer` stays cheap (no onnxruntime import)."""
    if name in ("Predictor", "Prediction"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
