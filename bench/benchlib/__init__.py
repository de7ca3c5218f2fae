"""The usrsvc benchmark suite (bench/run); not part of the usrsvc package."""
