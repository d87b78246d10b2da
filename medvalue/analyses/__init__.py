"""What a dataset contains and how good and safe it is: profile (with quality checks),
coverage, AI-training readiness (sample size, baselines), privacy (re-identification risk,
generalisation) and regional targets.

Each analysis is a pure function of a :class:`~medvalue.read._dataset.Dataset` returning a
frozen result. Imports :mod:`medvalue.core` and :mod:`medvalue.read` only.
"""
