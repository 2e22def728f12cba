"""Answer scales: how many answers a kiosk offers and which of them count as satisfied.

Answers are numbered from 1 (least satisfied) to ``size`` (most satisfied). An answer is *satisfied* when it
lies strictly above the middle of the scale, so a middle answer (on 3 and 5) is not satisfied:

====  ==========================================  ===========
size  answers                                     satisfied
====  ==========================================  ===========
2     1 Non, 2 Oui                                2
3     1 Pas satisfait, 2 Moyen, 3 Satisfait       3
4     1 Très mécontent ... 4 Très satisfait       3, 4
5     1 Très mécontent ... 5 Très satisfait       4, 5
====  ==========================================  ===========

The 0-100 index gives each answer an evenly spaced weight: ``(answer - 1) / (size - 1) * 100``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

_LOG = logging.getLogger(__name__)

MIN_SIZE = 2
MAX_SIZE = 5
DEFAULT_SIZE = 4


@dataclass(frozen=True, slots=True)
class Scale:
    """An answer scale of ``size`` answers."""

    size: int

    def __post_init__(self) -> None:
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"a scale has {MIN_SIZE} to {MAX_SIZE} answers, not {self.size}")

    @property
    def answers(self) -> range:
        return range(1, self.size + 1)

    def is_satisfied(self, answer: int) -> bool:
        self.check(answer)
        return answer * 2 > self.size + 1

    def index_weight(self, answer: int) -> float:
        """The answer's weight in the 0-100 index."""
        self.check(answer)
        return (answer - 1) * 100.0 / (self.size - 1)

    def check(self, answer: int) -> None:
        if answer not in self.answers:
            raise ValueError(f"answer {answer} is not on a {self.size}-answer scale")

    @property
    def satisfied_answers(self) -> tuple[int, ...]:
        return tuple(a for a in self.answers if self.is_satisfied(a))


@cache
def scale_for(size: int) -> Scale:
    return Scale(size)
