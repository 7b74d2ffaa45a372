"""The one exception type of the encoders package.

Every problem a caller can cause (bad windows, unknown activities, a pack that does not match the code)
surfaces as an :class:`EncoderError` whose message says what was wrong and what to do, so nothing ever
fails later with a shape error deep inside torch.
"""

from __future__ import annotations


class EncoderError(ValueError):
    """Input or state the encoders cannot work with; the message names the problem and the fix."""

    def __init__(self, problem: str, *, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} — fix: {fix}" if fix else problem)
