# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Creating pickleable exceptions": the BAD one (Python 3 keeps its args anyway)."""


class HttpError(Exception):

    def __init__(self, status_code):
        self.status_code = status_code
