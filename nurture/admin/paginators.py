"""A paginator for lists of millions of rows: it never counts more than it shows a need for.

Django's admin counts the filtered list for its paginator; over millions of touchpoints that
COUNT(*) alone costs more than the page. This one counts at most CAP + 1 rows
(SELECT COUNT(*) FROM (SELECT ... LIMIT CAP + 1)), so a page costs the same on a table of a
thousand rows or of five million; past the cap the admin says "more than 1,000". The count drops
the list's ORDER BY: any CAP + 1 rows answer the question, so nothing is sorted or walked in order.
"""

from functools import cached_property

from django.core.paginator import Paginator

CAP = 1_000


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]  # generic in the stubs only
    cap = CAP

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "order_by"):
            object_list = object_list.order_by()
        window = object_list[: self.cap + 1]
        counted = window.count() if hasattr(window, "count") and not isinstance(window, list) else len(window)
        return int(counted)

    @property
    def capped(self) -> bool:
        return self.count > self.cap
