"""The benchmark: `python -m bench.run` (or `./dev bench`); results in bench/RESULTS.md."""
