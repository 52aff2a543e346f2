"""The one error type of the cluster component: plain words plus the log file to look at."""

from __future__ import annotations

from pathlib import Path


class ClusterError(Exception):
    """A failure the user can act on. `log` names the file with the details, if there is one."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.log = log

    def __str__(self) -> str:
        if self.log is None:
            return self.message
        return f"{self.message}\n  see log: {self.log}"
