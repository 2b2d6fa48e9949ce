"""The merge gate: its decision, its sequential bounds and statistics, and a verdict's vocabulary.

Nothing is imported here: `gate.verdicts` stays readable by the Action's precheck before anything is installed."""
