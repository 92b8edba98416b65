"""genlab: an interactive lab for AI image generation.

Nothing heavy is imported here: every model loads lazily on first use.
"""

__version__ = "0.1.0"
