-- Coroutine ping-pong: 10^6 times, create a coroutine and resume it until
-- it returns its result. Each round is two switches (into the coroutine and
-- back). Prints the sum of the results, then the switch count and time.
local n = 1000000

local function ping_pong(n)
  local sum = 0
  for i = 0, n - 1 do
    local co = coroutine.create(function() return i end)
    local _, v = coroutine.resume(co)
    sum = sum + v
  end
  return sum
end

local start = os.clock()
local result = ping_pong(n)
local elapsed = os.clock() - start

print(result)
print("switches", 2 * n, "ms", math.floor(elapsed * 1000))
