-- pay_secure.lua: the keys of a payment call, read where no event, log line or CDR sees them.
--
--   lua <this file> read <fifo> <min> <max> <first_ms> <inter_ms> <terminators>
--   lua <this file> play
--
-- read: plays the channel variable pay_secure_prompt (a file, file_string://, say:<text> or
--   silence) and reads with session:read, which keeps the digits in this script; writes one
--   line "<status> <terminator|-> <digits|->\n" to <fifo>, a FIFO the orchestrator made and
--   opened for reading before running this; status: ok, cancel, timeout, short, hangup.
--   pay_secure_prompt (and, for play, pay_secure_play) is cleared once read; pay_secure_status
--   is set only when the script could not answer (bad-arguments, no-fifo).
-- play: plays the segments of pay_secure_play ("&"-joined; fields ","-joined, percent-encoded:
--   file,<path> | speak,<engine>,<voice>,<text> | say,<lang>,<type>,<method>,<gender>,<value>
--   [,<gender variable>]: for a say module that reads the channel variable gender instead of
--   the argument (mod_say_ru), the value it is set to before this say).
--   Keys pressed meanwhile stay queued; nothing is logged. read plays pay_secure_play first
--   too, when it is set: the prompts before a field and the field in one application, so no
--   key typed over them can be lost between the two. Both clear pay_secure_play once taken.
--
-- The contract, and the measurements behind it: docs/secure-entry.md. Nothing here logs,
-- prints or stores a digit anywhere but the FIFO; the arguments hold no secret.

local function unescape(text)
  return (text:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

local function split(text, separator)
  local parts = {}
  for part in (text .. separator):gmatch("(.-)" .. separator:gsub("%p", "%%%0")) do
    parts[#parts + 1] = unescape(part)
  end
  return parts
end

-- A file the switch cannot open makes switch_ivr_play_file flush the queued keys, and a flush
-- puts them in digits_dialed (CDR, hangup events) whatever sensitive_dtmf says: a local path
-- that is not there (as given, or in the <rate> directory mod_sndfile tries first) is not
-- played. Other paths (tone_stream://, relative to sound_prefix...) are the switch's to find.
local function missing(path)
  local dir, name = path:match("^(/.*)/([^/]+)$")
  if not dir then return false end
  for _, candidate in ipairs({path, dir .. "/8000/" .. name, dir .. "/16000/" .. name,
                              dir .. "/32000/" .. name, dir .. "/48000/" .. name}) do
    local handle = io.open(candidate, "rb")
    if handle then
      handle:close()
      return false
    end
  end
  return true
end

-- An outbound socket's park, between two applications, takes a queued key every 20 ms and
-- throws it away: keys typed over a prompt survive only into an application that is already
-- queued behind it, or into this same one.
local function play()
  local segments = session:getVariable("pay_secure_play") or ""
  session:setVariable("pay_secure_play", nil)
  if segments == "" then return "ok" end
  session:setVariable("pay_secure_play", nil)
  for segment in (segments .. "&"):gmatch("(.-)&") do
    if not session:ready() then return "hangup" end
    local f = split(segment, ",")
    if f[1] == "file" and f[2] then
      if not missing(f[2]) then session:streamFile(f[2]) end
    elseif f[1] == "speak" and f[4] then
      session:set_tts_params(f[2], f[3])
      session:speak(f[4])
    elseif f[1] == "say" and f[6] then
      if f[7] and f[7]:match("^%a+$") then session:setVariable("gender", f[7]) end
      session:say(f[6], f[2], f[3], f[4], f[5])
    end
  end
  return session:ready() and "ok" or "hangup"
end

-- A hang-up can end a read before the channel says it is gone: mod_loopback unlinks the
-- partner's media as the other leg is killed and hangs it up only later, from that leg's
-- thread, so session:read returns with the keys so far while session:ready() is still true
-- (measured on 1.10.12: a call hung up mid-number read as "short"). A read that came back
-- without its digits is asked whether media still flows: sleep reads frames and fails at once
-- on a dead line (with no input callback it leaves queued keys alone), and then the channel
-- gets at most half a second to say it has gone.
local function gone()
  if not session:ready() then return true end
  if session:sleep(20) == 1 then return false end
  for _ = 1, 25 do
    if not session:ready() then return true end
    freeswitch.msleep(20)
  end
  return not session:ready()
end

local function read(fifo, min_digits, max_digits, first_ms, inter_ms, terminators)
  local digits, terminator = "", ""
  if play() ~= "hangup" then
    local prompt = session:getVariable("pay_secure_prompt") or "silence"
    session:setVariable("pay_secure_prompt", nil)
    if missing(prompt) then prompt = "silence" end
    -- switch_ivr_read never clears read_terminator_used: a '*' of an earlier read would make
    -- this one look cancelled
    session:setVariable("read_terminator_used", nil)
    for _ = 1, 2 do
      digits = session:read(min_digits, max_digits, prompt, first_ms, terminators, inter_ms) or ""
      terminator = session:getVariable("read_terminator_used") or ""
      session:setVariable("read_terminator_used", nil)
      -- a lone '#' is the one the previous field left queued when it filled up: read again
      if not (digits == "" and terminator == "#" and session:ready()) then break end
      prompt = "silence"
    end
  end
  local status
  local complete = #digits >= min_digits and #digits > 0
  if not session:ready() or (terminator ~= "*" and not complete and gone()) then
    status = "hangup"
  elseif terminator == "*" and terminators:find("*", 1, true) then
    status = "cancel"
  elseif complete then
    status = "ok"
  elseif #digits == 0 then
    status = "timeout"
  else
    status = "short"
  end
  local line = status .. " " .. (terminator ~= "" and terminator or "-") .. " " ..
               (status == "ok" and digits or "-") .. "\n"
  digits = nil
  -- r+ (O_RDWR) never blocks on a FIFO and never creates a file: a reader that is gone
  -- loses the line, it cannot hang the call or leave the digits on disk
  local handle = io.open(fifo, "r+")
  if handle then
    handle:write(line)
    handle:close()
  else
    status = "no-fifo"
  end
  line = nil
  collectgarbage()
  return status
end

local mode = argv[1]
local status
if mode == "play" then
  status = play()
elseif mode == "read" and argv[2] and argv[2]:match("^/[%w/._-]+$") then
  status = read(argv[2], tonumber(argv[3]) or 1, tonumber(argv[4]) or 1, tonumber(argv[5]) or 5000,
                tonumber(argv[6]) or 3000, argv[7] or "#")
else
  status = "bad-arguments"
end
-- the outcome travels in the FIFO line; the variable says only why there was none
if session:ready() then
  if status == "bad-arguments" or status == "no-fifo" then
    session:setVariable("pay_secure_status", status)
  else
    session:setVariable("pay_secure_status", nil)
  end
end
