-- Headless end-to-end run of byok.lua in a real Neovim (0.7+), driven by tests/editors/test_neovim.py:
--   nvim --headless -u NONE -c 'luafile tests/editors/neovim/e2e.lua'
-- with BYOK_E2E_CONFIG naming a JSON file: {byokLua, cmd, settings, provider, key, file, out, timeoutMs}.
-- Every step's result goes to `out` as JSON (never the key). Any error, or running past the watchdog,
-- writes {"error": ...} and exits non-zero (`cquit`): headless Neovim would otherwise wait forever.

local results = {}
local config

local function write_results()
  local path = config and config.out or os.getenv("BYOK_E2E_OUT")
  if path then
    vim.fn.writefile({ vim.json.encode(results) }, path)
  end
end

local function fail(message)
  results.error = message
  pcall(write_results)
  io.stderr:write("byok e2e failed: " .. tostring(message) .. "\n")
  vim.cmd("cquit")
end

--- Wait until `done()` or fail with `what` after `ms`.
local function wait_for(what, ms, done)
  if not vim.wait(ms, done, 10) then
    error("timed out after " .. ms .. " ms waiting for " .. what, 2)
  end
end

local function buffer_text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n") .. "\n"
end

--- Run an async byok call (`start(on_done)`) and wait for on_done(err, result); raise on err.
local function await(what, byok, start)
  local done, err, result = false, nil, nil
  start(function(e, r)
    done, err, result = true, e, r
  end)
  wait_for(what, config.timeoutMs, function()
    return done
  end)
  if err then
    error(what .. " failed: " .. byok.format_error(err), 2)
  end
  return result
end

local function main()
  config = vim.json.decode(table.concat(vim.fn.readfile(assert(os.getenv("BYOK_E2E_CONFIG"))), "\n"))
  results.nvimVersion = tostring(vim.version().major .. "." .. vim.version().minor .. "." .. vim.version().patch)
  vim.defer_fn(function()
    fail("watchdog: the scenario did not finish within " .. config.watchdogMs .. " ms")
  end, config.watchdogMs)

  -- The snippet exactly as users load it.
  local byok = dofile(config.byokLua)
  byok.setup({ cmd = config.cmd, settings = config.settings, timeout_ms = config.timeoutMs })

  -- Opening a file attaches byok through the FileType autocommand (as in a user's config).
  vim.cmd("filetype on")
  vim.cmd("edit " .. vim.fn.fnameescape(config.file))
  local bufnr = vim.api.nvim_get_current_buf()
  local client = byok.client(config.timeoutMs)
  wait_for("byok to attach to the buffer", config.timeoutMs, function()
    return vim.lsp.buf_is_attached(bufnr, client.id)
  end)
  results.commands = byok.commands()
  results.offsetEncoding = client.offset_encoding

  -- Keys: store, then verify against the loopback provider.
  results.setKey = byok.set_key(config.provider, config.key)
  results.verifyKey = byok.verify_key(config.provider)

  -- The :ByokVerifyKey command reports through vim.notify.
  local notified = {}
  local notify = vim.notify
  vim.notify = function(msg, ...)
    table.insert(notified, msg)
    return notify(msg, ...)
  end
  vim.cmd("ByokVerifyKey " .. config.provider)
  vim.notify = notify
  results.verifyCommandMessage = table.concat(notified, "\n")

  -- Streamed chat: deltas arrive through the byok/stream handler before the result.
  local deltas = {}
  results.chat = await("byok.chat", byok, function(on_done)
    byok.chat("Say hi", {
      on_delta = function(text)
        table.insert(deltas, text)
      end,
      on_done = on_done,
    })
  end)
  results.chatStreamed = table.concat(deltas)
  results.chatDeltas = #deltas

  -- The :ByokChat command streams into the chat buffer.
  vim.cmd("ByokChat Say hi again")
  local chat_buf = vim.fn.bufnr("byok://chat")
  wait_for(":ByokChat's answer in the chat buffer", config.timeoutMs, function()
    return chat_buf > 0 and buffer_text(chat_buf):find(config.chatBufferExpect, 1, true) ~= nil
  end)
  results.chatBuffer = buffer_text(chat_buf)
  vim.api.nvim_set_current_buf(bufnr)

  -- Inline edit: the WorkspaceEdit is applied to the buffer with vim.lsp.util.apply_workspace_edit.
  results.inlineEditRegistered = byok.has_command("byok.inlineEdit")
  if results.inlineEditRegistered then
    local edit_deltas = {}
    local range = config.inlineEditRange
    results.inlineEdit = await("byok.inlineEdit", byok, function(on_done)
      byok.inline_edit({
        bufnr = bufnr,
        range = range,
        instruction = "Use an f-string",
        on_delta = function(text)
          table.insert(edit_deltas, text)
        end,
        on_done = on_done,
      })
    end)
    results.inlineEditStreamed = table.concat(edit_deltas)
    results.bufferAfterEdit = buffer_text(bufnr)
    results.modified = vim.bo[bufnr].modified
  end

  -- Clean shutdown: the server answers shutdown and exits.
  local exited = false
  vim.lsp.stop_client(client.id)
  wait_for("byok-server to exit", 5000, function()
    exited = vim.lsp.get_client_by_id(client.id) == nil
    return exited
  end)
  results.serverStopped = exited
end

local ok, err = xpcall(main, debug.traceback)
if not ok then
  fail(err)
else
  write_results()
  vim.cmd("qall!")
end
