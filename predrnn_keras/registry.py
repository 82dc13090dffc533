"""Registries of interchangeable parts, found by name.

Data kinds (`predrnn_keras.data.kinds`) and forecast methods
(`predrnn_keras.forecasters`) each keep one `Registry`: a member registers
under its name, the rest of the code asks for a name and calls the member's
interface, never which member it holds. An unknown name is a one-line error
that lists the known ones, as pysteps' `get_method` does.
"""

from collections.abc import Iterator


class Registry:
    """Members of one family of parts, by name.

    Args:
        family: what the members are, for messages ("data kind").

    Example:

    >>> methods = Registry("forecast method")
    >>> methods.register("persistence", object())
    >>> "persistence" in methods, methods.names()
    (True, ('persistence',))
    """

    def __init__(self, family: str):
        self.family = family
        self._members = {}

    def register(self, name: str, member, replace: bool = False):
        """Adds `member` under `name` and returns it.

        Args:
            name: the name recipes and command lines use.
            member: the part.
            replace: allow a name that is registered already (a test's
                stand-in); otherwise that is an error.

        Raises:
            ValueError: `name` is not a non-empty string, or is taken.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"Expected the name of a {self.family} to be a non-empty "
                f"string. Received: {name!r}"
            )
        if name in self._members and not replace:
            raise ValueError(
                f"A {self.family} named {name!r} is registered already."
            )
        self._members[name] = member
        return member

    def unregister(self, name: str) -> None:
        """Removes `name` (a test's stand-in); unknown names are ignored."""
        self._members.pop(name, None)

    def get(self, name):
        """The member registered as `name`.

        Raises:
            ValueError: no member has that name; the message lists them.
        """
        if name not in self._members:
            raise ValueError(
                f"Expected a {self.family} in "
                f"{', '.join(repr(n) for n in self._members)}. "
                f"Received: {name!r}"
            )
        return self._members[name]

    def names(self) -> tuple:
        """The registered names, in the order they were registered."""
        return tuple(self._members)

    def __contains__(self, name) -> bool:
        return name in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._members))
