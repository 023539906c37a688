-- String building: join 10^5 pieces, concatenate onto one growing string
-- 2*10^4 times, and format 10^5 short strings. Prints the total length.
local n = 100000

local pieces = {}
for i = 0, n - 1 do
  pieces[#pieces + 1] = "item" .. i
end
local joined = table.concat(pieces, ",")

local grown = ""
for i = 0, 19999 do
  grown = grown .. "ab"
end

local formatted = 0
for i = 0, n - 1 do
  formatted = formatted + #("k" .. i .. "=" .. (i * 2) .. ";")
end

print(#joined + #grown + formatted)
