"""Guideline data (instruments, rubric, manual, prompt templates), shipped as package data."""
