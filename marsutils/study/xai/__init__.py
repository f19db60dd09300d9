"""Chapter 05's study: :mod:`.report` (the model and inputs to explain, the tables),
:mod:`.record` (its tested numbers and JSON record), :mod:`.verdicts` (sentences from the record).
"""
