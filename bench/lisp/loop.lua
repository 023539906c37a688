-- A 10^7-step tail-recursive loop (proper tail calls, constant stack).
local function go(i, acc)
  if i == 10000000 then return acc end
  return go(i + 1, acc + i)
end

print(go(0, 0))
