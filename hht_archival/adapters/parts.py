"""Part sizes for a multipart upload of a stream whose length is unknown until it ends.

Pure arithmetic over S3's documented limits, kept apart from the calls that
send the parts (s3.py), which re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_PART_SIZE = 16 * 1024 * 1024
MAX_PARTS = 10_000
MAX_PART_SIZE = 5 * 1024**3
MAX_OBJECT_SIZE = 5 * 1024**4  # S3's documented limits


@dataclass(frozen=True)
class PartPlan:
    """Part sizes for a stream of unknown length: ``minimum`` for the first ``step`` parts, then doubling.

    A fixed part size caps an object at 10,000 parts (8 MiB parts: about 78 GiB);
    growing geometrically keeps small dumps in small parts, hence little memory,
    while a dump up to S3's 5 TiB object limit still fits. ``plan_parts`` picks
    the slowest growth that still fits.
    """

    minimum: int
    step: int
    max_parts: int = MAX_PARTS

    def size_of(self, number: int) -> int:
        """The size of part ``number`` (1-based); only the last part may be smaller."""
        return min(MAX_PART_SIZE, self.minimum << ((number - 1) // self.step))

    def capacity(self) -> int:
        """The largest stream this plan fits in ``max_parts`` parts."""
        full_blocks, remainder = divmod(self.max_parts, self.step)
        total = sum(self.size_of(block * self.step + 1) for block in range(full_blocks)) * self.step
        return total + remainder * self.size_of(full_blocks * self.step + 1)


def plan_parts(minimum: int = MIN_PART_SIZE, max_parts: int = MAX_PARTS, max_object: int = MAX_OBJECT_SIZE):
    """The plan whose parts grow most slowly (fewest doublings) yet fit ``max_object`` bytes."""
    if PartPlan(minimum, 1, max_parts).capacity() < max_object:
        raise ValueError(f"no part plan from {minimum} bytes fits {max_object} bytes in {max_parts} parts")
    low, high = 1, max_parts  # capacity shrinks as step grows: find the largest step that fits
    while low < high:
        middle = (low + high + 1) // 2
        if PartPlan(minimum, middle, max_parts).capacity() >= max_object:
            low = middle
        else:
            high = middle - 1
    return PartPlan(minimum, low, max_parts)
