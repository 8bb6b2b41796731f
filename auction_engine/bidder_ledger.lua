-- A bidder's exposure across lots, and its bid rate, in the bidder's own hash slot.
-- KEYS[1] = auction:{bidder:B}:credit  (hash: 'limit' -> minor units, 'L:<lot>' -> exposure)
-- KEYS[2] = auction:{bidder:B}:rate    (hash: 'tokens', 'at')
-- ARGV[1] = op: 'reserve' | 'set' | 'limit' | 'total' | 'rate'
-- reserve: ARGV[2] = lot, ARGV[3] = amount -> {1, total} stood (the lot's exposure is now amount),
--          {0, total} refused (other lots' exposure + amount would pass the limit; nothing changed)
-- set:     ARGV[2] = lot, ARGV[3] = amount (0 removes) -> {1, total}
-- limit:   ARGV[2] = limit ('' = none) -> {1, total}
-- total:   -> {1, total}
-- rate:    ARGV[2] = per second, ARGV[3] = burst, ARGV[4] = now ms -> {1} allowed, {0} refused
local op = ARGV[1]
if op == 'rate' then
  local rate, burst, now = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  local tokens = tonumber(redis.call('HGET', KEYS[2], 'tokens') or burst)
  local at = tonumber(redis.call('HGET', KEYS[2], 'at') or now)
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
  local allowed = 0
  if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'at', math.max(now, at))
  redis.call('PEXPIRE', KEYS[2], math.ceil(burst / rate * 1000) + 1000)
  return {allowed}
end
local function total_except(lot)
  local sum = 0
  local flat = redis.call('HGETALL', KEYS[1])
  for i = 1, #flat, 2 do
    local field = flat[i]
    if string.sub(field, 1, 2) == 'L:' and field ~= 'L:' .. (lot or '') then
      sum = sum + tonumber(flat[i + 1])
    end
  end
  return sum
end
if op == 'total' then
  return {1, total_except(nil)}
end
if op == 'limit' then
  if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'limit') else redis.call('HSET', KEYS[1], 'limit', ARGV[2]) end
  return {1, total_except(nil)}
end
local lot, amount = ARGV[2], tonumber(ARGV[3])
local others = total_except(lot)
if op == 'reserve' then
  local limit = redis.call('HGET', KEYS[1], 'limit')
  if limit and others + amount > tonumber(limit) then
    return {0, others + tonumber(redis.call('HGET', KEYS[1], 'L:' .. lot) or '0')}
  end
end
if amount > 0 then redis.call('HSET', KEYS[1], 'L:' .. lot, amount) else redis.call('HDEL', KEYS[1], 'L:' .. lot) end
return {1, others + amount}
