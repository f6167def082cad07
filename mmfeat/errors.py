"""Errors that mmfeat reports to the user without a traceback."""


class UserError(Exception):
    """A failure caused by input or configuration: the message names the file and the fix."""
