"""What a dataset is worth: the comparables registry, the price band (market, hedonic, cost
and income approaches) and the one orchestrator, :func:`assess`, that runs every analysis
and the price in order.

Imports :mod:`medvalue.core`, :mod:`medvalue.read` and :mod:`medvalue.analyses` only.
"""
