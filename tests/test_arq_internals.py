"""The arq internals that app/core/jobs.py reproduces or relies on.

`enqueue_unique` writes jobs the way `ArqRedis.enqueue_job` does (job key, queue score, expiry,
arq's own serialisation) and `hold_in_progress` shortens arq's in-progress key. arq is pinned
(pyproject.toml); these tests fail when an upgrade changes any of it, before production does.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid

import pytest
from arq import constants
from arq.connections import ArqRedis
from arq.jobs import Job, JobStatus, deserialize_job, serialize_job
from arq.utils import timestamp_ms
from arq.worker import Worker, func

from app.core.jobs import (
    enqueue_unique,
    hold_in_progress,
    in_progress_key,
    job_key,
    webhook_job_id,
)

pytestmark = pytest.mark.timeout(60)


def test_installed_arq_is_the_pinned_one():
    import tomllib
    from importlib.metadata import version

    from tests.helpers import ROOT

    pinned = [d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
              if d.startswith("arq")]
    assert pinned == [f"arq=={version('arq')}"]


def test_key_prefixes_and_serialize_job_signature():
    assert (constants.job_key_prefix, constants.in_progress_key_prefix, constants.result_key_prefix) == (
        "arq:job:", "arq:in-progress:", "arq:result:")
    params = list(inspect.signature(serialize_job).parameters)
    assert params[:5] == ["function_name", "args", "kwargs", "job_try", "enqueue_time_ms"]
    assert "serializer" in params
    assert job_key("x") == "arq:job:x" and in_progress_key("x") == "arq:in-progress:x"
    assert "expires_extra_ms" in inspect.signature(ArqRedis.__init__).parameters


async def test_enqueue_unique_writes_what_enqueue_job_writes(own_pool):
    """Same job key payload, same queue (a sorted set scored by the run time in ms), same
    expiry: a worker cannot tell the two apart."""
    redis = own_pool
    ours, theirs = f"t:{uuid.uuid4()}", f"t:{uuid.uuid4()}"
    before = timestamp_ms()
    assert await enqueue_unique(redis, [("some_function", ours, ("a", 1))], defer_by=5) == 1
    await redis.enqueue_job("some_function", "a", 1, _job_id=theirs, _defer_by=5)
    assert await redis.type(redis.default_queue_name) == b"zset"
    for job_id in (ours, theirs):
        score = await redis.zscore(redis.default_queue_name, job_id)
        assert before + 5000 <= score <= timestamp_ms() + 5000
        ttl = await redis.pttl(job_key(job_id))
        assert 0 < ttl <= 5000 + redis.expires_extra_ms
        assert ttl > redis.expires_extra_ms - 60_000
        payload = deserialize_job(await redis.get(job_key(job_id)), deserializer=redis.job_deserializer)
        assert (payload.function, payload.args, payload.kwargs, payload.job_try) == ("some_function", ("a", 1), {}, None)
        assert await Job(job_id, redis, _queue_name=redis.default_queue_name).status() == JobStatus.deferred
    # a queued id refuses a second job, as enqueue_job does
    assert await enqueue_unique(redis, [("some_function", ours, ())]) == 0
    assert await redis.enqueue_job("some_function", _job_id=theirs) is None


async def test_a_running_id_gets_a_follow_up_and_a_queued_one_nothing(own_pool):
    redis = own_pool
    job_id = webhook_job_id(uuid.uuid4())
    assert await enqueue_unique(redis, [("f", job_id, ())], follow_up_suffix=":next") == 1
    assert await enqueue_unique(redis, [("f", job_id, ())], follow_up_suffix=":next") == 0
    await redis.set(in_progress_key(job_id), b"1")  # what a worker sets when it starts the job
    assert await enqueue_unique(redis, [("f", job_id, ())], follow_up_suffix=":next") == 1
    assert await redis.exists(job_key(job_id + ":next"))
    assert await enqueue_unique(redis, [("f", job_id, ())], follow_up_suffix=":next") == 0


async def _sleeper(ctx, seconds):
    await asyncio.sleep(seconds)


@pytest.fixture
async def own_pool(settings, ctx):
    """A pool with a queue of its own (no job of these tests reaches the suite's workers); an
    arq Worker closes the pool it is given."""
    from arq.connections import create_pool

    from app.core.context import redis_settings

    pool = await create_pool(redis_settings(settings), default_queue_name=f"test:arq:{uuid.uuid4().hex[:8]}")
    yield pool
    with contextlib.suppress(Exception):
        await pool.aclose()


async def test_worker_blocks_a_running_id_with_its_in_progress_key_for_the_longest_timeout(ctx, own_pool):
    """What a SIGKILL leaves behind: the in-progress key, set for the worker's longest job
    timeout plus 10 s (not the job's own), and the job still in the queue."""
    redis, queue = own_pool, own_pool.default_queue_name
    worker = Worker(functions=[func(_sleeper, name="sleeper", timeout=5), func(_sleeper, name="long", timeout=3600)],
                    redis_pool=own_pool, queue_name=queue, burst=True, poll_delay=0.05, handle_signals=False)
    job_id = f"t:{uuid.uuid4()}"
    await redis.enqueue_job("sleeper", 2.0, _job_id=job_id, _queue_name=queue)
    task = asyncio.create_task(worker.async_run())
    try:
        for _ in range(100):
            if await redis.exists(in_progress_key(job_id)):
                break
            await asyncio.sleep(0.02)
        ttl = await redis.pttl(in_progress_key(job_id))
        assert 3600_000 < ttl <= 3610_000
        assert await redis.zscore(queue, job_id) is not None and await redis.exists(job_key(job_id))
        # the job shortens its key; arq's finish still deletes it
        async with hold_in_progress(redis, {in_progress_key(job_id): ""}, ttl_seconds=3):
            await asyncio.sleep(0.05)
            assert 0 < await redis.pttl(in_progress_key(job_id)) <= 3000
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        await worker.close()
    assert not await redis.exists(in_progress_key(job_id)) and await redis.zscore(queue, job_id) is None


async def test_a_job_left_in_the_queue_starts_again_once_its_in_progress_key_expires(ctx, own_pool):
    redis, queue = own_pool, own_pool.default_queue_name
    job_id = f"t:{uuid.uuid4()}"
    await redis.enqueue_job("sleeper", 0.0, _job_id=job_id, _queue_name=queue)
    await redis.psetex(in_progress_key(job_id), 400, b"1")  # a dead worker's key, shortened
    worker = Worker(functions=[func(_sleeper, name="sleeper")], redis_pool=own_pool, queue_name=queue,
                    poll_delay=0.05, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    started = time.monotonic()
    try:
        for _ in range(200):
            if await redis.zscore(queue, job_id) is None:
                break
            await asyncio.sleep(0.02)
        assert await redis.zscore(queue, job_id) is None
        assert time.monotonic() - started >= 0.3
    finally:
        task.cancel()
        await worker.close()
