"""The base of every error that reports bad user input (config, data, checkpoint, model files)."""


class ToolkitError(ValueError):
    """A problem with the user's input, explained in one message that names what is at fault."""
