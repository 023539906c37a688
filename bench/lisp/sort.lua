-- Sort 10^5 pseudo-random integers from a deterministic LCG, then fold the
-- sorted sequence into a checksum.
local n = 100000

local numbers = {}
local x = 42
for i = 1, n do
  x = (x * 1103515245 + 12345) % 2147483648
  numbers[i] = x
end

table.sort(numbers)

local acc = 0
for i = 1, n do
  acc = (acc * 31 + numbers[i]) % 1000000007
end
print(acc)
