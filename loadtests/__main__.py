"""`python -m loadtests` runs the call benchmark (loadtests.bench_calls)."""

from loadtests.bench_calls import main

main()
