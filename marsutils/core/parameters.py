"""The notebook parameters: one schema, and the one function that validates and coerces them.

Every notebook starts with a papermill ``parameters`` cell and hands those values to
:func:`marsutils.book.notebook.setup`, which calls :func:`resolve_parameters`. Values arrive in
whatever type the caller's tool produced: ``papermill -p seed 1.0`` passes the float ``1.0``,
``papermill -r seed 1`` the string ``"1"``, ``-p interactive 1`` the int ``1`` and
``-p interactive true`` the string ``"true"``. :func:`coerce_parameter` turns each into the
declared type or raises :class:`ParameterError` naming the parameter and the allowed values;
later cells read only the coerced values (``ctx.seed``, ``ctx.device`` ...).
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marsutils.core.profiles import profile_names

__all__ = [
    "Parameter",
    "ParameterError",
    "PARAMETERS",
    "coerce_parameter",
    "resolve_parameters",
    "parse_bool",
]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("", "none", "null")
#: ``torch.device`` strings a notebook accepts; ``auto`` picks CUDA when available, else CPU.
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE = re.compile(r"auto|cpu|cuda|cuda:\d+|mps")
#: Seeds feed ``numpy.random.SeedSequence``, which takes non-negative integers.
SEED_MAX = 2**32 - 1


class ParameterError(ValueError):
    """A notebook parameter is unknown or has a value outside its type or allowed values."""


@dataclass(frozen=True)
class Parameter:
    """One notebook parameter: its name, type, default, allowed values and documentation.

    ``kind`` is ``"int"``, ``"str"``, ``"bool"`` or ``"path"``; ``optional`` parameters also
    accept None (and the strings ``""``/``"None"``). ``choices`` is a sequence or a callable
    returning one (for the profile names, which live in :mod:`marsutils.core.profiles`).
    """

    name: str
    kind: str
    default: Any
    doc: str
    optional: bool = False
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None

    def allowed(self) -> list[str] | None:
        """The allowed values, or None when any value of the type is allowed."""
        if self.choices is None:
            return None
        return list(self.choices() if callable(self.choices) else self.choices)

    def describe(self) -> str:
        """What values this parameter takes, for error messages."""
        kinds = {
            "int": f"an integer 0..{SEED_MAX}",
            "str": "a string",
            "bool": f"a boolean ({'/'.join(_TRUE)} or {'/'.join(_FALSE)})",
            "path": "a folder path",
        }
        text = kinds[self.kind]
        allowed = self.allowed()
        if allowed is not None:
            text = f"one of {allowed}"
        return text + (" or None" if self.optional else "")


PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter(
            "profile",
            "str",
            "quick",
            "execution profile; only the profile decides how long things take",
            choices=profile_names,
        ),
        Parameter("seed", "int", 0, "the seed of splits, sampling, training and bootstraps"),
        Parameter(
            "data_dir",
            "path",
            None,
            "HiRISE landmark folder; None: $MARS_DATA_DIR, then ../shared/data/hirise-landmarks",
            optional=True,
        ),
        Parameter(
            "run_dir",
            "path",
            None,
            "where models and results go; None: runs/<profile> in the repository",
            optional=True,
        ),
        Parameter(
            "device",
            "str",
            "auto",
            "torch device; auto: CUDA when available, else CPU",
            choices=DEVICE_CHOICES,
        ),
        Parameter(
            "figures_dir",
            "path",
            None,
            "where figures go (PNG and SVG); None: <run_dir>/figures",
            optional=True,
        ),
        Parameter(
            "interactive",
            "bool",
            None,
            "live widgets (explorer, progress bars) or static output; None: $MARS_INTERACTIVE, "
            "else True exactly when run_dir is None (opened by hand rather than run by papermill)",
            optional=True,
        ),
    )
}


def parse_bool(value: Any, name: str) -> bool:
    """``True``/``False``, ``1``/``0`` (int or integral float) or a yes/no string -> bool.

    Raises :class:`ParameterError` naming ``name`` and the accepted spellings otherwise.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ParameterError(
        f"parameter {name!r} must be a boolean: True/False, 1/0, or one of "
        f"{list(_TRUE + _FALSE)}; got {value!r}"
    )


def _parse_int(value: Any, name: str) -> int:
    number: Any = value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ParameterError(
                    f"parameter {name!r} must be an integer; got {value!r}"
                ) from None
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        raise ParameterError(f"parameter {name!r} must be an integer; got {value!r}")
    if isinstance(number, numbers.Integral):
        result = int(number)
    elif math.isfinite(float(number)) and float(number).is_integer():
        result = int(float(number))  # papermill -p seed 1.0 passes a float
    else:
        raise ParameterError(
            f"parameter {name!r} must be an integer (a float only with an integral value, "
            f"e.g. 1.0); got {value!r}"
        )
    if not 0 <= result <= SEED_MAX:
        raise ParameterError(f"parameter {name!r} must be in 0..{SEED_MAX}; got {result}")
    return result


def coerce_parameter(name: str, value: Any) -> Any:
    """Validate ``value`` for notebook parameter ``name`` and return it in the declared type.

    Parameters
    ----------
    name : str
        A key of :data:`PARAMETERS`.
    value : object
        As papermill, a YAML file or Python code passed it: e.g. ``1``, ``1.0`` or ``"1"`` for
        an integer; ``True``, ``1``, ``"yes"`` for a boolean.

    Returns
    -------
    int, str, bool, pathlib.Path or None
        Integers for ``int`` (``1.0`` -> ``1``); stripped strings for ``str``; ``bool`` (or None
        when optional) for ``bool``; an absolute :class:`~pathlib.Path` (relative paths are taken
        from the current working directory) or None for ``path``.

    Raises
    ------
    ParameterError
        For an unknown name (listing the known ones), or a value of the wrong type or outside the
        allowed values (naming the parameter and the allowed values).
    """
    if name not in PARAMETERS:
        raise ParameterError(
            f"unknown notebook parameter {name!r}; the parameters are {sorted(PARAMETERS)}"
        )
    spec = PARAMETERS[name]
    if spec.optional and (
        value is None or (isinstance(value, str) and value.strip().lower() in _NONE)
    ):
        return None
    if value is None:
        raise ParameterError(f"parameter {name!r} must be {spec.describe()}; got None")
    if spec.kind == "int":
        return _parse_int(value, name)
    if spec.kind == "bool":
        return parse_bool(value, name)
    if spec.kind == "path":
        if not isinstance(value, str | os.PathLike):
            raise ParameterError(f"parameter {name!r} must be a folder path; got {value!r}")
        return Path(os.path.abspath(os.path.expanduser(os.fspath(value))))
    if not isinstance(value, str):
        raise ParameterError(f"parameter {name!r} must be {spec.describe()}; got {value!r}")
    text = value.strip()
    allowed = spec.allowed()
    valid = _DEVICE.fullmatch(text) if name == "device" else allowed is None or text in allowed
    if not valid:
        raise ParameterError(f"parameter {name!r} must be {spec.describe()}; got {value!r}")
    return text


def resolve_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce every given parameter and fill in the defaults of the missing ones.

    Raises :class:`ParameterError` for unknown names (all of them, with the list of known
    parameters) or for the first invalid value.
    """
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise ParameterError(
            f"unknown notebook parameter(s) {unknown}; the parameters are {sorted(PARAMETERS)}"
        )
    return {
        name: coerce_parameter(name, values[name]) if name in values else spec.default
        for name, spec in PARAMETERS.items()
    }
