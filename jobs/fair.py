"""Fair turns between companies on the reports queue: one company's many jobs never make
another company's job wait behind all of them.

The reports queue stays RQ's list (its length is the number of waiting jobs; RQ's tools and
``herald_queue_depth`` read it as before). Beside it, Herald keeps the order of turns:

- ``herald:fair:<queue>:c:<company>`` — a company's waiting jobs, oldest first;
- ``herald:fair:<queue>:ring`` — the companies that have waiting jobs, whose turn is next
  first.

A job joins its company's list when it is queued (:data:`ADD`, also run by the release of
held jobs, jobs/held.py); its company is the field ``herald_company`` of its hash. When a
worker pops a job from RQ's list (:class:`FairQueue`), :data:`PICK` gives it instead the next
company's oldest job, and puts the popped one back in that job's place in the list: the list
keeps exactly the waiting jobs, and each dequeue is a few O(1) steps plus finding the
picked job in the list. Only the companies with waiting jobs have keys, so Redis does not
grow with the number of companies. A job without a company (a delivery retry) is run when
popped; a picked job that is no longer waiting (deleted, taken) is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis
from rq import Queue
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.utils import as_text

COMPANY_FIELD = "herald_company"


def ring_key(queue_key: str) -> str:
    return f"herald:fair:{queue_key.rsplit(':', 1)[-1]}:ring"


def company_prefix(queue_key: str) -> str:
    return f"herald:fair:{queue_key.rsplit(':', 1)[-1]}:c:"


# KEYS: the ring; ARGV: the company lists' prefix, the job key prefix, then job ids.
ADD_LUA = """
local function fair_add(ring, prefix, job_prefix, id)
  local company = redis.call('HGET', job_prefix .. id, 'herald_company')
  if not company then return end
  if redis.call('RPUSH', prefix .. company, id) == 1 then
    redis.call('RPUSH', ring, company)
  end
end
"""

ADD = ADD_LUA + """
for i = 3, #ARGV do fair_add(KEYS[1], ARGV[1], ARGV[2], ARGV[i]) end
return #ARGV - 2
"""

# KEYS: the queue's list, its intermediate list (BLMOVE's), the ring; ARGV: the popped job
# id, the company lists' prefix, the job key prefix, "1" if the job was moved to the
# intermediate list. Returns the job to run.
PICK = """
local popped = ARGV[1]
if not redis.call('HGET', ARGV[3] .. popped, 'herald_company') then return popped end
while true do
  local company = redis.call('LPOP', KEYS[3])
  if not company then return popped end
  local list = ARGV[2] .. company
  local id = redis.call('LPOP', list)
  if redis.call('LLEN', list) > 0 then redis.call('RPUSH', KEYS[3], company) end
  if id == popped then return popped end
  if id then
    local at = redis.call('LPOS', KEYS[1], id)
    if at then
      redis.call('LSET', KEYS[1], at, popped)
      if ARGV[4] == '1' then
        redis.call('LREM', KEYS[2], -1, popped)
        redis.call('RPUSH', KEYS[2], id)
      end
      return id
    end
  end
end
"""


def mark(pipe, job_key: str, company_id: int) -> None:
    """Record a job's company on its hash (before it is queued)."""
    pipe.hset(job_key, COMPANY_FIELD, company_id)


def add(conn: redis.Redis, queue_key: str, job_ids: Iterable[str]) -> None:
    """The jobs just pushed onto the queue's list join their companies' turns."""
    ids = list(job_ids)
    if ids:
        conn.register_script(ADD)(keys=[ring_key(queue_key)], args=[
            company_prefix(queue_key), Job.redis_job_namespace_prefix, *ids])


class FairQueue(Queue):
    """RQ's queue whose dequeue gives the next company its turn (see the module's doc).
    Workers use it as their ``queue_class``; enqueueing is RQ's own plus :func:`add`."""

    @classmethod
    def lpop(cls, queue_keys, timeout, connection=None):
        return _fair(connection, super().lpop(queue_keys, timeout, connection=connection),
                     moved=False)

    @classmethod
    def lmove(cls, connection, queue_key, timeout):
        return _fair(connection, super().lmove(connection, queue_key, timeout), moved=True)


def _fair(conn: redis.Redis, popped, moved: bool):
    if popped is None:
        return None
    queue_key, job_id = as_text(popped[0]), as_text(popped[1])
    if not queue_key.startswith(Queue.redis_queue_namespace_prefix):
        return popped
    picked = conn.register_script(PICK)(
        keys=[queue_key, IntermediateQueue.get_intermediate_queue_key(queue_key),
              ring_key(queue_key)],
        args=[job_id, company_prefix(queue_key), Job.redis_job_namespace_prefix,
              "1" if moved else "0"])
    return queue_key, as_text(picked)
