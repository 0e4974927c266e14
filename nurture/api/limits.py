"""The API's rate limit per token: a fixed window counted in Redis (REDIS_URL), shared by every
web process, or in Django's cache without Redis (the embedded default: one process)."""

from __future__ import annotations

import time
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache


class RateLimited(Exception):
    def __init__(self, retry_after: int, limit: int, seconds: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Rate limit of {limit} requests in {seconds} seconds reached; retry in {retry_after} s.")


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def check_rate(token_key: str, *, now: float | None = None) -> None:
    """Count one request of the token; raise RateLimited past the limit (NURTURE_API_RATE_LIMIT)."""
    rate: tuple[int, int] | None = settings.NURTURE_API_RATE_LIMIT
    if rate is None:
        return
    limit, seconds = rate
    now = time.time() if now is None else now
    window = int(now // seconds)
    key = f"nurture:api:rate:{token_key}:{window}"
    if settings.REDIS_URL:
        pipe = _redis(settings.REDIS_URL).pipeline()
        pipe.incr(key)
        pipe.expire(key, seconds + 1)
        count = int(pipe.execute()[0])
    else:
        django_cache.add(key, 0, seconds + 1)
        count = django_cache.incr(key)
    if count > limit:
        raise RateLimited(max(1, int((window + 1) * seconds - now + 0.999)), limit, seconds)
