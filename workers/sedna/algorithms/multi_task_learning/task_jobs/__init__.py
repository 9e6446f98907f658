"""Sedna 0.3-0.5 module path of the multi-task-learning artifacts."""
