"""tokaudit: where did the LLM money go, was it priced right, what was wasted."""

__version__ = "0.1.0"
