"""The grading engine: evaluates a task's checks (lessons/content/FORMAT.md) against a
student's namespace, through the cluster gateway, and runs tasks' setup; and the grading
flow (flow.py): grading an attempt in the worker, with those checks."""
