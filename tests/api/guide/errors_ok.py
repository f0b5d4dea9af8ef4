# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Creating pickleable exceptions": the first OK exception."""


class HttpError(Exception):
    pass
