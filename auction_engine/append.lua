-- Append one batch of log entries to a lot's stream, atomically, fenced.
-- KEYS[1] = the lot's stream, KEYS[2] = the lot's meta hash, KEYS[3] = the lot's bid-id hash
-- ARGV[1] = the seq the writer believes is last, ARGV[2] = the writer's epoch,
-- ARGV[3] = the batch, one msgpack array (stream.pack_items) of five per entry: entry bytes,
-- hash bytes, public frame bytes, bid key ('' if none), ack bytes.
-- The ack is stored with its entry so a retried bid id gets the same answer after a restart.
-- The epoch is the fencing token: a writer that lost the lot can never append again.
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local epoch = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
if epoch ~= tonumber(ARGV[2]) then
  return {-1, epoch}
end
if seq ~= tonumber(ARGV[1]) then
  return {-2, seq}
end
local items = cmsgpack.unpack(ARGV[3])
local head = nil
for i = 1, #items, 5 do
  seq = seq + 1
  redis.call('XADD', KEYS[1], seq .. '-1', 'e', items[i], 'h', items[i + 1], 'p', items[i + 2])
  if items[i + 3] ~= '' then
    redis.call('HSET', KEYS[3], items[i + 3], items[i + 4])
  end
  head = items[i + 1]
end
redis.call('HSET', KEYS[2], 'seq', seq, 'head', head)
return {seq, 0}
