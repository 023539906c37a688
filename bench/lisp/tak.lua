-- Takeuchi function: deep non-tail recursion with three arguments.
-- tak(18, 12, 6) makes 63 609 calls; it runs 800 times (about 45 million calls).
local function tak(x, y, z)
  if y < x then
    return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))
  end
  return z
end

local sum = 0
for i = 0, 799 do
  sum = sum + tak(18, 12, 6 + i % 2)
end
print(sum)
