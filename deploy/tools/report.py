"""Collects the problems found by deploy/check.sh and counts what was checked."""


class Report:
    """Problems (each a one-line message naming the file) and counts of checked things."""

    def __init__(self):
        self.problems = []
        self.counts = {}

    def fail(self, where, message):
        """Records a problem in `where` (a path relative to the repository root)."""
        self.problems.append(f"{where}: {message}")

    def checked(self, what, n=1):
        """Counts `n` more checked items of kind `what` for the summary line."""
        self.counts[what] = self.counts.get(what, 0) + n

    def summary(self):
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())
