"""Export of trained models (TensorFlow SavedModel)."""

from predrnn_keras.export.saved_model import ExportError
from predrnn_keras.export.saved_model import check_export
from predrnn_keras.export.saved_model import export_saved_model

__all__ = ["ExportError", "check_export", "export_saved_model"]
