"""One folder per drift library: the tests of what is its own (a repo keeps only its one)."""
