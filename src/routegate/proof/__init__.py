"""The prover: what holds over every model id, not only the ids someone thought to try.

:mod:`routegate.proof.overlaps` proves that providers' patterns never claim the same id
(``routegate lint --prove``); :mod:`routegate.proof.diff` computes what a manifest edit does
to every decision and who pays (``routegate diff``). Both work on finite automata
within one :class:`~routegate.proof._budget.Budget`, and confirm every witness with RE2;
what they cannot compute within it they report as unproven.

Its layers, each importing only those below it: ``_budget`` (the budget and its meters);
``_nfa`` (nondeterministic automata from the pattern trees of :mod:`routegate._re2syntax`);
``_dfa`` (deterministic states made on demand, products); ``_samples`` (strings to check an
automaton against RE2 with); ``_automata`` (one run's automata, each checked before it is
trusted); ``_combinations`` (the ids beyond the menus a diff must decide); then ``overlaps``
and ``diff``.

This package imports nothing when loaded, so reading the budget's defaults for ``--help``
does not build the automata.
"""
