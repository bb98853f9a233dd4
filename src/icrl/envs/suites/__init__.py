"""Benchmark-suite environments behind optional extras: POPGym, the Actuator Inversion Benchmark, HalfCheetah-Vel.

Each module imports its heavy dependency lazily, inside the factory, and raises ``MissingExtraError`` naming the
pip extra when it is missing; registering the names costs nothing.
"""
