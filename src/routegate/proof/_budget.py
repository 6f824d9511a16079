"""The budget of one run of the automata (a proof, a diff), and its fair sharing among the run's questions.

Apart from :mod:`routegate.proof._automata` so the command line can state the
defaults in ``--help`` without loading the automata.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from routegate.errors import RoutegateError

__all__ = ["DEFAULT_BUDGET", "Budget", "Ledger", "Meter", "NotProven", "OverBudget"]


@dataclass(frozen=True, slots=True)
class Budget:
    """How far the automata may go in one whole run: a ``prove()``, a ``diff()``, a publish gate's diff.

    ``states`` bounds the states the run makes, all questions together: every
    pattern's nondeterministic states, every deterministic state and every
    product state explored (a menu's own trie, the size of the manifest, is not
    counted). It bounds the run's memory and most of its work; ``seconds``
    bounds its wall-clock time. The values are stated in ``--help`` and in
    docs/ci-gates.md.
    """

    states: int = 100_000
    seconds: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.states, bool) or not isinstance(self.states, int) or self.states < 1:
            raise ValueError(f"a budget's states must be a positive integer, not {self.states!r}")
        if not isinstance(self.seconds, int | float) or isinstance(self.seconds, bool) or not self.seconds > 0:
            raise ValueError(f"a budget's seconds must be a positive number, not {self.seconds!r}")


DEFAULT_BUDGET = Budget()


class NotProven(RoutegateError):
    """A question the automata cannot answer soundly; the message says why.

    Caught inside the prover, which reports the question as unproven, never as an answer."""


class OverBudget(NotProven):
    """Answering would take more states or time than the budget allows."""


class Ledger:
    """One run's :class:`Budget` as it is spent, shared fairly among the run's questions.

    The caller says how many questions to expect; each question, when it
    starts, may spend what is left (states and time) divided by the square
    root of the questions left, itself included. A question that needs little
    leaves the rest to those after it; a runaway one, with n questions left,
    takes at most 1/√n of what is left and leaves the rest to the others. (An
    equal split would starve the first questions of a large run, which build
    the automata the later ones reuse.) The states spent never exceed ``budget.states``,
    and no question runs past the run's deadline.
    """

    __slots__ = ("_left", "budget", "deadline", "spent")

    def __init__(self, budget: Budget, questions: int = 0) -> None:
        self.budget = budget
        self.spent = 0
        self.deadline = time.monotonic() + budget.seconds
        self._left = questions

    def expect(self, questions: int) -> None:
        """``questions`` more will ask for a :meth:`meter`."""
        self._left += questions

    def meter(self, what: str) -> Meter:
        """The next question's share: what is left of the states and of the time, over √(questions left)."""
        spread = math.sqrt(max(self._left, 1))
        self._left = max(self._left - 1, 0)
        now = time.monotonic()
        states = int((self.budget.states - self.spent) / spread)
        return Meter(self, what, states, now + max(self.deadline - now, 0) / spread)


class Meter:
    """One question's share of its run's :class:`Ledger`, as it is spent."""

    __slots__ = ("allowance", "deadline", "ledger", "spent", "what")

    def __init__(self, ledger: Ledger, what: str, allowance: int, deadline: float) -> None:
        self.ledger = ledger
        self.what = what
        self.allowance = allowance
        self.deadline = deadline
        self.spent = 0

    def charge(self) -> None:
        """One more state made; raises OverBudget past the question's share of the states or of the time."""
        if self.spent >= self.allowance:
            raise OverBudget(
                f"{self.what}: needs more than its share ({self.allowance} states) of the run's "
                f"{self.ledger.budget.states} states (raise --max-states)"
            )
        self.spent += 1
        self.ledger.spent += 1
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise OverBudget(
                f"{self.what}: past its share of the run's {self.ledger.budget.seconds:g} s budget "
                "(raise --time-budget)"
            )
