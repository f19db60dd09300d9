"""Class names of the HiRISE landmark releases and the matching of classes between releases.

A model trained on one release can be evaluated on another only through class *names*: the
releases number their classes differently. Names are compared after normalisation (lower case;
runs of spaces, underscores and hyphens become one space), plus a short table of documented
synonyms between v1 and v3.2. A class that only one side has (v1's ``edge``; v3.2's
``swiss cheese`` and ``spider``) is reported as unmapped, never dropped silently or relabelled.

Sources
-------
* v1 (Wagstaff et al. 2018, "Deep Mars", doi:10.5281/zenodo.1048301): the release ships no class
  map file; its documentation (README and ``landmarks_mp.py``) gives 7 classes, ids 0-6:
  0 other, 1 crater, 2 dark dune, 3 streak, 4 bright dune, 5 impact, 6 edge.
* v3.2 (Doran et al. 2020, doi:10.5281/zenodo.4002935), ``landmarks_map-proj-v3_2_classmap.csv``:
  0 other, 1 crater, 2 dark dune, 3 slope streak, 4 bright dune, 5 impact ejecta,
  6 swiss cheese, 7 spider. The synonym table pairs v1's short names "streak" and "impact" with
  v3.2's "slope streak" and "impact ejecta": the same landmark types under the same ids (3, 5).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["V1_CLASS_NAMES", "SYNONYMS", "normalise_class_name", "ClassMatch", "match_classes"]

#: v1 class names in id order (see the module docstring for the source).
V1_CLASS_NAMES = ("other", "crater", "dark dune", "streak", "bright dune", "impact", "edge")

#: Normalised v1 name -> normalised v3.2 name of the same class.
SYNONYMS = {"streak": "slope streak", "impact": "impact ejecta"}


def normalise_class_name(name: str) -> str:
    """Lower case, with runs of spaces, underscores and hyphens made one space."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


def _canonical(name: str) -> str:
    norm = normalise_class_name(name)
    return SYNONYMS.get(norm, norm)


@dataclass(frozen=True)
class ClassMatch:
    """How the classes of a data set map onto the classes of a model.

    Attributes
    ----------
    mapping : dict of int to int
        Data class id -> model class id, for every data class the model knows.
    data_only : tuple of str
        Data classes the model lacks; their images cannot be scored.
    model_only : tuple of str
        Model classes the data lacks; predicting them is always wrong.
    synonyms_used : dict of str to str
        Data class name -> model class name for pairs matched through :data:`SYNONYMS`.
    """

    mapping: dict[int, int]
    data_only: tuple[str, ...]
    model_only: tuple[str, ...]
    synonyms_used: dict[str, str] = field(default_factory=dict)

    def as_dict(self, data_names: Sequence[str], model_names: Sequence[str]) -> dict:
        """A JSON-friendly description naming both sides."""
        return {
            "mapped": {data_names[d]: model_names[m] for d, m in self.mapping.items()},
            "data_only": list(self.data_only),
            "model_only": list(self.model_only),
            "synonyms_used": dict(self.synonyms_used),
        }


def match_classes(data_names: Sequence[str], model_names: Sequence[str]) -> ClassMatch:
    """Match data classes to model classes by normalised name (and :data:`SYNONYMS`).

    Parameters
    ----------
    data_names, model_names : sequence of str
        Class names in id order of the data set and of the model.

    Returns
    -------
    ClassMatch

    Raises
    ------
    ValueError
        Two classes on one side normalise to the same name, or no class matches at all.
    """
    for side, names in (("data", data_names), ("model", model_names)):
        canon = [_canonical(n) for n in names]
        if len(set(canon)) != len(canon):
            raise ValueError(f"the {side} has two classes with the same normalised name: {names}")
    model_index = {_canonical(n): j for j, n in enumerate(model_names)}
    mapping: dict[int, int] = {}
    synonyms: dict[str, str] = {}
    for i, name in enumerate(data_names):
        j = model_index.get(_canonical(name))
        if j is None:
            continue
        mapping[i] = j
        if normalise_class_name(name) != normalise_class_name(model_names[j]):
            synonyms[name] = model_names[j]
    if not mapping:
        raise ValueError(
            f"no class of the data {list(data_names)} matches the model's {list(model_names)}"
        )
    data_only = tuple(n for i, n in enumerate(data_names) if i not in mapping)
    used = set(mapping.values())
    model_only = tuple(n for j, n in enumerate(model_names) if j not in used)
    return ClassMatch(mapping, data_only, model_only, synonyms)
