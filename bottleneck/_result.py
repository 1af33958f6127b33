"""The protocol every result of the package follows.

Results are frozen dataclasses. Where a result has one of these quantities it uses this
name for it:

``d``           the rank of the head (theory.md's symbol, in every function and result)
``gap``         loss above the entropy floor, nats/token
``loss``        ``H(P) + gap``, nats/token
``success``     whether the computation reached what it set out to (a property)
``status``      a short machine-readable word saying why it stopped (``"converged"``,
                ``"max_iter"``, ``"diverged"``, ...)
``message``     the same in a sentence, for people
``iterations``  steps taken (Newton or L-BFGS iterations, optimiser steps)
``seconds``     wall time
``history``     a tuple of ``(x, value)`` pairs along the run (what ``x`` and ``value``
                are is stated by each result)

:meth:`Record.to_record` turns a result into one flat row (scalar fields and the listed
properties) for CSV and JSON tables.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

__all__ = ["Record"]


def _scalar(value) -> bool:
    return value is None or isinstance(value, (str, bool, numbers.Number, np.generic))


class Record:
    """Mixin of the result dataclasses: :meth:`to_record`."""

    #: properties added to the record after the fields (e.g. ``("success",)``)
    record_properties: tuple[str, ...] = ()
    #: fields never recorded (arrays that may be None, such as a bias)
    record_skip: tuple[str, ...] = ()

    def to_record(self) -> dict:
        """The scalar fields (numbers, strings, booleans, None) in declaration order, then
        :attr:`record_properties`; arrays, tensors, modules, histories and
        :attr:`record_skip` are left out."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name not in self.record_skip and _scalar(value):
                out[f.name] = value.item() if isinstance(value, np.generic) else value
        for name in self.record_properties:
            out[name] = getattr(self, name)
        return out
