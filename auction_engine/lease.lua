-- Take, renew or release a lot's lease; every key is in the lot's hash slot.
-- KEYS[1] = the lot's lease key, KEYS[2] = the lot's meta hash (its `epoch` fences append.lua)
-- ARGV[1] = 'acquire' | 'renew' | 'release', ARGV[2] = holder ('<node id>/<incarnation>'),
-- ARGV[3] = epoch (renew/release), ARGV[4] = lease time in ms, ARGV[5] = the caller's clock in ms
-- (kept as the lot's `alive` mark), ARGV[6] = the node id alone (acquire).
-- A lease held by an earlier incarnation of the same node id (the process restarted) is taken at
-- once, with a new epoch, instead of waiting for it to expire: node ids are unique per process.
-- acquire: {epoch, 1, alive} when taken (the epoch went up: every earlier writer is fenced; `alive` is
--          the previous holder's last mark, so the taker knows how long the lot had no writer; ''
--          after a release, which was a hand-over and not an outage),
--          {epoch, 0} when the caller already held it, {-1, holder} when another node does.
-- renew/release: {epoch, 1} when the caller still held the lease, {-1, holder} otherwise.
local current = redis.call('GET', KEYS[1])
local op = ARGV[1]
if op == 'acquire' then
  if current then
    local holder, epoch = string.match(current, '^(.*)|(%d+)$')
    if holder == ARGV[2] then
      redis.call('PEXPIRE', KEYS[1], ARGV[4])
      redis.call('HSET', KEYS[2], 'alive', ARGV[5])
      return {tonumber(epoch), 0}
    end
    if string.match(holder, '^(.*)/') ~= ARGV[6] then
      return {-1, current}
    end
  end
  local epoch = redis.call('HINCRBY', KEYS[2], 'epoch', 1)
  redis.call('SET', KEYS[1], ARGV[2] .. '|' .. epoch, 'PX', ARGV[4])
  local alive = redis.call('HGET', KEYS[2], 'alive') or ''
  redis.call('HSET', KEYS[2], 'alive', ARGV[5])
  return {epoch, 1, alive}
end
if current ~= ARGV[2] .. '|' .. ARGV[3] then
  return {-1, current or ''}
end
if op == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('HSET', KEYS[2], 'alive', ARGV[5])
else
  -- a hand-over, not an outage: the next holder owes the lot no time back
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], 'alive')
end
return {tonumber(ARGV[3]), 1}
