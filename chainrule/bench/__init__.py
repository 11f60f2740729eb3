"""Benchmarks behind `chainrule bench`, one file per family (quality, throughput); figures go to BENCHMARKS.md."""
