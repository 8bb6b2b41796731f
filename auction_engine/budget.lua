-- A bidder's budget for one sale and what they have committed on its lots (docs/rules.md "Budgets"),
-- in the bidder's own hash slot, beside their credit: bidding/budget.py's rule, run atomically.
-- KEYS[1] = auction:{bidder:B}:budget:S  (hash: 'on', 'total', 'lots', 'L:<lot>' -> committed, 'W:<lot>' -> won)
-- ARGV[1] = op: 'set' | 'reserve' | 'expose' | 'get'
-- set:     ARGV[2] = max_total ('' none), ARGV[3] = max_lots ('' none), then (lot, committed, won 0/1) triples -> {1}
-- reserve: ARGV[2] = lot, ARGV[3] = value, ARGV[4] = proxy 0/1 -> {1, placed} (placed stood on the lot:
--          value, or a proxy capped to what is left), {0, left} refused; {2, value} no budget set
-- expose:  ARGV[2] = lot, ARGV[3] = committed (0 removes), ARGV[4] = won 0/1 -> {won, max_lots or -1}; {-1, -1} no budget
-- get:     -> {on 0/1, max_total or -1, max_lots or -1, committed, won}
local key, op = KEYS[1], ARGV[1]
local function tally(except)
  local committed, won = 0, 0
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do
    local field, value = flat[i], flat[i + 1]
    local lot = string.sub(field, 3)
    if lot ~= except then
      if string.sub(field, 1, 2) == 'L:' then committed = committed + tonumber(value) end
      if string.sub(field, 1, 2) == 'W:' then won = won + 1 end
    end
  end
  return committed, won
end
local function limit(field)
  local v = redis.call('HGET', key, field)
  if v then return tonumber(v) end
  return nil
end
if op == 'set' then
  redis.call('DEL', key)
  redis.call('HSET', key, 'on', '1')
  if ARGV[2] ~= '' then redis.call('HSET', key, 'total', ARGV[2]) end
  if ARGV[3] ~= '' then redis.call('HSET', key, 'lots', ARGV[3]) end
  for i = 4, #ARGV, 3 do
    if tonumber(ARGV[i + 1]) > 0 then redis.call('HSET', key, 'L:' .. ARGV[i], ARGV[i + 1]) end
    if ARGV[i + 2] == '1' then redis.call('HSET', key, 'W:' .. ARGV[i], '1') end
  end
  return {1}
end
if redis.call('EXISTS', key) == 0 then
  if op == 'get' then return {0, -1, -1, 0, 0} end
  if op == 'reserve' then return {2, tonumber(ARGV[3])} end
  return {-1, -1}
end
local total, lots = limit('total'), limit('lots')
if op == 'get' then
  local committed, won = tally(nil)
  return {1, total or -1, lots or -1, committed, won}
end
local lot = ARGV[2]
if op == 'expose' then
  local amount = tonumber(ARGV[3])
  if amount > 0 then redis.call('HSET', key, 'L:' .. lot, amount) else redis.call('HDEL', key, 'L:' .. lot) end
  if ARGV[4] == '1' then redis.call('HSET', key, 'W:' .. lot, '1') else redis.call('HDEL', key, 'W:' .. lot) end
  local _, won = tally(nil)
  return {won, lots or -1}
end
-- reserve: bidding.budget.budget_cap
local value, proxy = tonumber(ARGV[3]), ARGV[4] == '1'
local elsewhere, won = tally(lot)
if lots and won >= lots then return {0, 0} end
local placed = value
if total then
  local left = total - elsewhere
  if value > left then
    if (not proxy) or left <= 0 then return {0, left} end
    placed = left
  end
end
local held = tonumber(redis.call('HGET', key, 'L:' .. lot) or '0')
if placed > held then redis.call('HSET', key, 'L:' .. lot, placed) end
return {1, placed}
