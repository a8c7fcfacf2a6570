-- byok for Neovim: bring-your-own-key AI (chat, inline edit, key management) through `byok-server`,
-- using Neovim's built-in LSP client. Works on Neovim 0.7 and later; no plugins needed.
--
-- Install: copy this file to ~/.config/nvim/lua/byok.lua, then in init.lua:
--
--   require("byok").setup({
--     cmd = { "byok-server" },             -- or { "/path/to/venv/bin/python", "-m", "byok" }
--     settings = {                          -- the `byok` settings of protocol.md
--       providers = { openai = {} },        -- presets need nothing but a key
--       features = { chat = "gpt-4.1-mini", inlineEdit = "gpt-4.1-mini" },
--     },
--   })
--
-- Commands:
--   :ByokSetKey {provider}       asks for the key (hidden input), stores it in the OS keychain
--   :ByokVerifyKey {provider}    checks the key with the provider's cheapest call, lists its models
--   :ByokChat {prompt}           streams the answer into a chat buffer; follow-ups continue the chat
--   :ByokChatReset               starts a new chat
--   :[range]ByokEdit {instr}     rewrites the selected lines (or inserts at the cursor) per the instruction
--
-- Keys never go into your config: they live in the OS keychain (or PROVIDER_API_KEY env variables).
-- byok attaches to every buffer with a file (`filetypes` narrows that) beside your other servers.

local M = {}

M.config = {
  cmd = { "byok-server" },
  cmd_env = nil,
  settings = {},
  filetypes = nil, -- nil: every buffer that has a file name
  root_dir = nil, -- nil: the current directory; or a function(bufnr) -> string
  timeout_ms = 30000,
}

local streams = {} -- streamId -> function(delta)
local stream_counter = 0
local client_id = nil
local history = {}
local chat_buf = nil

local function notify(msg, level)
  vim.notify("byok: " .. msg, level or vim.log.levels.INFO)
end

-- Neovim 0.11 made client methods take `self`; 0.7-0.10 have plain functions.
local method_style = vim.fn.has("nvim-0.11") == 1

local function client_request(client, method, params, handler, bufnr)
  if method_style then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function client_cancel(client, id)
  if method_style then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

--- The error of a byok command as one readable line with its fix ("invalid_key: ... Fix: ...").
function M.format_error(err)
  if type(err) ~= "table" then
    return tostring(err)
  end
  local data = type(err.data) == "table" and err.data or {}
  local text = err.message or "error"
  if data.code then
    text = data.code .. ": " .. text
  end
  if data.fix and not text:find(data.fix, 1, true) then
    text = text .. " Fix: " .. data.fix
  end
  return text
end

local function stream_handler(_, params)
  -- Neovim 0.7 calls notification handlers in a fast (libuv) context: defer to the main loop,
  -- which keeps the deltas in order.
  vim.schedule(function()
    local fn = params and streams[params.streamId]
    if fn then
      fn(params.delta)
    end
  end)
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.workspace = caps.workspace or {}
  caps.workspace.configuration = true -- Neovim 0.7 answers workspace/configuration but does not say so
  caps.workspace.applyEdit = true
  return caps
end

local function root_for(bufnr)
  local root = M.config.root_dir
  if type(root) == "function" then
    root = root(bufnr)
  end
  return root or vim.fn.getcwd()
end

local function lsp_config(bufnr)
  return {
    name = "byok",
    cmd = M.config.cmd,
    cmd_env = M.config.cmd_env,
    root_dir = root_for(bufnr),
    settings = { byok = M.config.settings },
    init_options = { byok = M.config.settings },
    capabilities = capabilities(),
    handlers = { ["byok/stream"] = stream_handler },
    on_exit = function()
      client_id = nil
    end,
  }
end

--- Start byok-server (once) and attach it to `bufnr` (default: the current buffer). Returns the client id.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if client_id and vim.lsp.get_client_by_id(client_id) then
    if vim.api.nvim_buf_get_name(bufnr) ~= "" then
      vim.lsp.buf_attach_client(bufnr, client_id)
    end
    return client_id
  end
  local has_file = vim.api.nvim_buf_get_name(bufnr) ~= ""
  if vim.fn.has("nvim-0.11") == 1 then
    client_id = vim.lsp.start(lsp_config(bufnr), { bufnr = bufnr, attach = has_file })
  else
    client_id = vim.lsp.start_client(lsp_config(bufnr))
    if client_id and has_file then
      vim.lsp.buf_attach_client(bufnr, client_id)
    end
  end
  if not client_id then
    error("byok: could not start " .. table.concat(M.config.cmd, " "))
  end
  return client_id
end

--- The running, initialized byok client (started if needed); waits up to `timeout_ms`.
function M.client(timeout_ms)
  if not (client_id and vim.lsp.get_client_by_id(client_id)) then
    M.attach(0)
  end
  local client
  local ready = vim.wait(timeout_ms or 10000, function()
    client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized == true
  end, 10)
  if not ready or not client then
    error("byok: byok-server did not start; see :lua vim.cmd('edit ' .. vim.lsp.get_log_path())")
  end
  return client
end

--- The byok commands the server offers (its executeCommandProvider).
function M.commands()
  local provider = M.client().server_capabilities.executeCommandProvider or {}
  return provider.commands or {}
end

function M.has_command(name)
  return vim.tbl_contains(M.commands(), name)
end

local function next_stream_id()
  stream_counter = stream_counter + 1
  return string.format("nvim-%d-%d", vim.fn.getpid(), stream_counter)
end

--- Run a byok command asynchronously; `callback(err, result)` runs on the main loop.
--- `arg` is the command's one object argument. Returns the request id.
function M.execute_async(command, arg, callback, bufnr)
  local client = M.client()
  local params = { command = command, arguments = { arg or vim.empty_dict() } }
  local ok, id = client_request(client, "workspace/executeCommand", params, function(err, result)
    vim.schedule(function()
      callback(err, result)
    end)
  end, bufnr or 0)
  if not ok then
    error("byok: the server is not running")
  end
  return id
end

--- Run a byok command and wait for its result; raises a readable error (with the fix) on failure.
function M.execute(command, arg, timeout_ms)
  local done, err, result = false, nil, nil
  local id = M.execute_async(command, arg, function(e, r)
    done, err, result = true, e, r
  end)
  if not vim.wait(timeout_ms or M.config.timeout_ms, function()
    return done
  end, 10) then
    client_cancel(M.client(), id)
    error(string.format("byok: %s timed out", command))
  end
  if err then
    error("byok: " .. M.format_error(err), 0)
  end
  return result
end

function M.set_key(provider, key)
  return M.execute("byok.setKey", { provider = provider, key = key })
end

function M.verify_key(provider)
  return M.execute("byok.verifyKey", { provider = provider })
end

--- Streamed chat. `messages`: a prompt string or a list of {role, content}.
--- opts: model, files (uris), on_delta(text, delta), on_done(err, result). Returns request id, stream id.
function M.chat(messages, opts)
  opts = opts or {}
  if type(messages) == "string" then
    messages = { { role = "user", content = messages } }
  end
  local stream_id = opts.stream_id or next_stream_id()
  streams[stream_id] = function(delta)
    if opts.on_delta and delta.type == "text" then
      opts.on_delta(delta.text, delta)
    end
  end
  local arg = { messages = messages, streamId = stream_id, model = opts.model, files = opts.files }
  local id = M.execute_async("byok.chat", arg, function(err, result)
    streams[stream_id] = nil
    if opts.on_done then
      opts.on_done(err, result)
    elseif err then
      notify(M.format_error(err), vim.log.levels.ERROR)
    end
  end)
  return id, stream_id
end

--- Inline edit of `bufnr` over the LSP `range` (an empty range inserts at that position).
--- The returned WorkspaceEdit is applied to the buffer, then on_done(err, result) runs.
--- opts: bufnr, range, instruction, model, on_delta(text), on_done(err, result).
function M.inline_edit(opts)
  local bufnr = (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf() or opts.bufnr
  local client = M.client()
  local stream_id = next_stream_id()
  streams[stream_id] = function(delta)
    if opts.on_delta and delta.type == "text" then
      opts.on_delta(delta.text, delta)
    end
  end
  local arg = {
    uri = vim.uri_from_bufnr(bufnr),
    range = opts.range,
    instruction = opts.instruction,
    model = opts.model,
    streamId = stream_id,
  }
  return M.execute_async("byok.inlineEdit", arg, function(err, result)
    streams[stream_id] = nil
    if not err then
      local ok, apply_err = pcall(vim.lsp.util.apply_workspace_edit, result.edit, client.offset_encoding or "utf-16")
      if not ok then
        err = { message = "could not apply the edit: " .. tostring(apply_err) }
      end
    end
    if opts.on_done then
      opts.on_done(err, result)
    elseif err then
      notify(M.format_error(err), vim.log.levels.ERROR)
    else
      notify("edited with " .. result.model)
    end
  end, bufnr)
end

-- The chat buffer: the conversation so far, the answer streamed at its end.
local function chat_buffer()
  if not (chat_buf and vim.api.nvim_buf_is_valid(chat_buf)) then
    chat_buf = vim.api.nvim_create_buf(true, true)
    vim.api.nvim_buf_set_name(chat_buf, "byok://chat")
    vim.api.nvim_buf_set_option(chat_buf, "filetype", "markdown")
  end
  if vim.fn.bufwinid(chat_buf) == -1 then
    vim.cmd("botright split")
    vim.api.nvim_win_set_buf(0, chat_buf)
  end
  return chat_buf
end

local function append(buf, text)
  local last = vim.api.nvim_buf_line_count(buf)
  local tail = vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ""
  vim.api.nvim_buf_set_lines(buf, last - 1, last, false, vim.split(tail .. text, "\n", { plain = true }))
end

function M.chat_command(prompt)
  local buf = chat_buffer()
  table.insert(history, { role = "user", content = prompt })
  append(buf, (vim.api.nvim_buf_line_count(buf) > 1 and "\n\n" or "") .. "## You\n" .. prompt .. "\n\n## byok\n")
  local answer = {}
  M.chat(vim.deepcopy(history), {
    on_delta = function(text)
      table.insert(answer, text)
      append(buf, text)
    end,
    on_done = function(err, result)
      if err then
        table.remove(history)
        append(buf, "\n[error] " .. M.format_error(err))
      else
        table.insert(history, { role = "assistant", content = result.text })
      end
    end,
  })
end

local function define_commands()
  local cmd = vim.api.nvim_create_user_command
  cmd("ByokSetKey", function(o)
    local key = vim.fn.inputsecret("API key for " .. o.args .. ": ")
    if key == "" then
      return
    end
    local ok, res = pcall(M.set_key, o.args, key)
    notify(ok and ("stored key " .. res.fingerprint .. " for " .. res.provider) or res,
      ok and vim.log.levels.INFO or vim.log.levels.ERROR)
  end, { nargs = 1 })
  cmd("ByokVerifyKey", function(o)
    local ok, res = pcall(M.verify_key, o.args)
    if not ok then
      notify(res, vim.log.levels.ERROR)
    elseif res.ok then
      notify(string.format("%s key %s works (%d models, %d ms)", res.provider, res.fingerprint or "",
        #res.models, res.latencyMs))
    else
      notify(M.format_error({ message = res.error.message, data = res.error }), vim.log.levels.ERROR)
    end
  end, { nargs = 1 })
  cmd("ByokChat", function(o)
    M.chat_command(o.args)
  end, { nargs = "+" })
  cmd("ByokChatReset", function()
    history = {}
    if chat_buf and vim.api.nvim_buf_is_valid(chat_buf) then
      vim.api.nvim_buf_set_lines(chat_buf, 0, -1, false, {})
    end
  end, {})
  cmd("ByokEdit", function(o)
    local range
    if o.range > 0 then -- whole lines line1..line2
      range = { start = { line = o.line1 - 1, character = 0 }, ["end"] = { line = o.line2, character = 0 } }
    else -- insert at the cursor
      local pos = vim.lsp.util.make_position_params(0, M.client().offset_encoding).position
      range = { start = pos, ["end"] = pos }
    end
    M.inline_edit({ range = range, instruction = o.args })
  end, { nargs = "+", range = true })
end

--- Configure byok, attach it to file buffers as they open, and define the :Byok* commands.
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  local group = vim.api.nvim_create_augroup("byok", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes or "*",
    callback = function(args)
      if vim.api.nvim_buf_get_name(args.buf) ~= "" and vim.bo[args.buf].buftype == "" then
        M.attach(args.buf)
      end
    end,
  })
  define_commands()
  return M
end

return M
