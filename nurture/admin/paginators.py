"""A paginator for lists of millions of rows: it never counts more than it shows a need for.

Django's admin counts the filtered list for its paginator; over millions of touchpoints that
COUNT(*) alone costs more than the page. This one counts at most cap + 1 rows
(nurture.querysets.capped_count); past the cap the admin says "more than 1,000".
"""

from functools import cached_property

from django.core.paginator import Paginator

from nurture.querysets import COUNT_CAP, capped_count


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]  # generic in the stubs only
    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        return capped_count(self.object_list, self.cap)

    @property
    def capped(self) -> bool:
        return self.count > self.cap
