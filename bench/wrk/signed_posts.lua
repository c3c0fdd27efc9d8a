-- Posts pre-signed GHL webhooks: each line of the bodies file is "header<TAB>signature<TAB>body".
-- Each wrk thread takes every n-th line, so every request is a distinct delivery until the file
-- runs out (then it starts over, and the deliveries become duplicates: size the file to the run).
-- Usage: wrk ... -s signed_posts.lua URL -- BODIES_FILE THREADS

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local path, threads = args[1], tonumber(args[2])
  requests_ = {}
  local i = 0
  for line in io.lines(path) do
    if i % threads == id then
      local name, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      requests_[#requests_ + 1] = wrk.format(
        "POST", nil, { ["Content-Type"] = "application/json", [name] = signature }, body)
    end
    i = i + 1
  end
  count_ = #requests_
  index_ = 0
end

function request()
  index_ = index_ + 1
  if index_ > count_ then
    index_ = 1
  end
  return requests_[index_]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"wrk": {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "status": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
