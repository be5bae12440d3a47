"""Budgets: a YAML file of named spend limits, evaluated over the priced store."""

from tokaudit.budget.config import Budget, load_budgets
from tokaudit.budget.evaluate import evaluate_budgets, unmatched_scope_warnings

__all__ = ["Budget", "evaluate_budgets", "load_budgets", "unmatched_scope_warnings"]
