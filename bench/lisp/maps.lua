-- Map-heavy work: put 10^5 integer keys (spread out, not 1..n) into a
-- table, then get each one back. Prints the sum of the values found plus
-- the table's size.
local n = 100000

local m = {}
local size = 0
for i = 0, n - 1 do
  m[i * 7919] = i
  size = size + 1
end

local total = 0
for i = 0, n - 1 do
  total = total + m[i * 7919]
end

print(total + size)
