-- wrk script for the collector's load figures (see ../load.sh): every request is a new
-- batch of 500 events, the way the SDK sends it (gzip, User-Agent, Idempotency-Key =
-- batch_id).
--
-- The 500 events are the same in every batch and are gzip-compressed once, by load.sh
-- (events.gz); what makes each batch unique — its batch_id, installation_id and envelope —
-- is a second gzip member built here per request, as an uncompressed ("stored") deflate
-- block with its CRC-32. A body of two gzip members is one gzip stream (RFC 1952 §2.2);
-- the collector decompresses and checks all of it, as for any upload.
--
-- Usage: wrk -s batches.lua URL -- EVENTS_GZ RUN_ID
--   RUN_ID makes this run's ids differ from every other run's on the same database.
--   Prints one line `WRK {json}` at the end, and `BODY_BYTES n` (one body's size) to stderr.

local bit = require("bit")

local crc_table = {}
for i = 0, 255 do
    local c = i
    for _ = 1, 8 do
        if bit.band(c, 1) == 1 then
            c = bit.bxor(bit.rshift(c, 1), 0xEDB88320)
        else
            c = bit.rshift(c, 1)
        end
    end
    crc_table[i] = c
end

local function crc32(s)
    local c = 0xFFFFFFFF
    for i = 1, #s do
        c = bit.bxor(crc_table[bit.band(bit.bxor(c, s:byte(i)), 0xFF)], bit.rshift(c, 8))
    end
    return bit.bnot(c)
end

local function le16(n)
    return string.char(bit.band(n, 0xFF), bit.band(bit.rshift(n, 8), 0xFF))
end

local function le32(n)
    return le16(bit.band(n, 0xFFFF)) .. le16(bit.band(bit.rshift(n, 16), 0xFFFF))
end

-- One gzip member holding `data` in a single stored deflate block.
local function stored_member(data)
    local len = #data
    return "\31\139\8\0\0\0\0\0\0\255" .. "\1" .. le16(len) .. le16(bit.band(bit.bnot(len), 0xFFFF))
        .. data .. le32(crc32(data)) .. le32(len)
end

local threads = {}
local next_thread = 0

function setup(thread)
    thread:set("thread_no", next_thread)
    next_thread = next_thread + 1
    table.insert(threads, thread)
end

local events_gz, run_id, counter

function init(args)
    local file = assert(io.open(args[1], "rb"))
    events_gz = file:read("*a")
    file:close()
    run_id = tonumber(args[2]) or 0
    counter = 0
end

local function uuid(kind, n)
    -- 8-4-4-4-12 hex with version 4 and variant 8: run, kind and thread, then the counter.
    return string.format("%08x-%04x-4%03x-8%03x-%012x", run_id, kind, thread_no, 0, n)
end

function request()
    counter = counter + 1
    local batch_id = uuid(1, counter)
    local envelope = '{"batch_id":"' .. batch_id .. '","installation_id":"' .. uuid(2, counter % 64)
        .. '","sent_at":"2026-03-01T12:00:05.000Z","sdk":{"name":"consentgate","version":"0.1.0"},'
        .. '"app_version":"1.2.3","policy":{"id":"example-app","revision":4},'
        .. '"consent":{"analytics":"granted","advertising":"denied"},'
        .. '"device":{"os":"Android","os_version":"14","model":"Pixel 8","locale":"kk-KZ",'
        .. '"timezone":"Asia/Almaty"},"events":['
    local body = stored_member(envelope) .. events_gz
    if counter == 1 and thread_no == 0 then
        io.stderr:write("BODY_BYTES " .. #body .. "\n")
    end
    return wrk.format("POST", "/v1/batch", {
        ["Content-Type"] = "application/json",
        ["Content-Encoding"] = "gzip",
        ["User-Agent"] = "consentgate/0.1.0",
        ["Idempotency-Key"] = batch_id,
    }, body)
end

function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        'WRK {"requests":%d,"seconds":%.3f,"requests_per_s":%.1f,"p50_ms":%.2f,"p99_ms":%.2f,'
            .. '"max_ms":%.2f,"errors":%d,"non_2xx":%d}\n',
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
        e.connect + e.read + e.write + e.timeout, e.status))
end
