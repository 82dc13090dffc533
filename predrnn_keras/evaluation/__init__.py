"""Evaluation: per-frame scores on a test split, pictures and reports."""

from predrnn_keras.evaluation.evaluator import EvaluationError
from predrnn_keras.evaluation.evaluator import evaluate
from predrnn_keras.evaluation.evaluator import evaluate_model
from predrnn_keras.run_folder import resolve_target

__all__ = ["EvaluationError", "evaluate", "evaluate_model", "resolve_target"]
