"""The file formats promptci reads and writes: pools, subset files, results, the `promptci:` block."""
