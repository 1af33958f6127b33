"""Keyword arguments that were renamed: the old name keeps working, with a DeprecationWarning."""

from __future__ import annotations

import functools
import warnings

__all__ = ["renamed_keywords"]


def renamed_keywords(**old_to_new: str):
    """Decorator: a call passing ``old=value`` is forwarded as ``new=value`` with a
    DeprecationWarning (passing both names is a TypeError)."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__qualname__}() got both {old!r} and {new!r}")
                    warnings.warn(
                        f"{fn.__qualname__}({old}=...) is deprecated; pass {new}= instead",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
