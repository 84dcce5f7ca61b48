"""The worked examples of the lecture notes (seed examples), with exact values."""
