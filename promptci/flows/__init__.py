"""The application layer: one module per command (docs/design.md, docs/architecture.md).

Each flow takes typed inputs (a request dataclass, not argparse's namespace), does the work through the
modules below it, and returns a typed outcome that carries its exit code. Faults stay typed exceptions
(`InputError`, `InfraError`) from the door where they happened up to the command line, which is the one
place that prints them. Flows print nothing: what a person should see while they run comes back through
the callbacks the command line passes in.
"""
