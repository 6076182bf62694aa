"""Errors raised by the engine. Every message is meant to be shown to a person as it is."""


class DedupError(Exception):
	"""Base class of every error the engine raises on purpose."""


class RuleError(DedupError, ValueError):
	"""A rules document is invalid. The message names the rule and the problem."""


class InputError(DedupError, ValueError):
	"""Input data (CSV, JSON record, index file) cannot be used. The message says why."""
