"""Helpers shared by the tests and the benchmarks: clients, daemons, loop devices."""
