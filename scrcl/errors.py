"""The one exception type that the command-line scripts turn into a clean error line."""


class ScrclInputError(ValueError):
    """Bad input from the user (missing file, wrong format, impossible setting).

    The message is a single sentence that names the problem and the fix. The
    scripts print it as ``error: <message>`` and exit with code 2.
    """
