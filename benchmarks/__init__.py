"""Speed and memory programs, run from a checkout (not part of the wheel).

See benchmarks/README.md for what each measures and how to run it.
"""
