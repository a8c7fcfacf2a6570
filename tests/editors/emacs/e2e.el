;;; e2e.el --- Headless end-to-end run of byok.el through eglot  -*- lexical-binding: t; -*-

;; Driven by tests/editors/test_emacs.py:
;;   emacs --batch -l tests/editors/emacs/e2e.el
;; with BYOK_E2E_CONFIG naming a JSON file: {byokEl, cmd, settings, provider, key, file, out, timeoutMs,
;; watchdogMs, chatBufferExpect, inlineEditRange}.  Every step's result goes to `out' as JSON (never
;; the key).  Any error, or running past the watchdog, writes {"error": ...} and exits non-zero.

;;; Code:

(require 'cl-lib)
(require 'json)

(defvar byok-e2e--config nil)
(defvar byok-e2e--results (make-hash-table :test #'equal))

(defun byok-e2e--put (key value)
  (puthash key value byok-e2e--results))

(defun byok-e2e--write ()
  (let ((out (and byok-e2e--config (plist-get byok-e2e--config :out))))
    (when out
      (with-temp-file out
        (set-buffer-file-coding-system 'utf-8-unix)
        (insert (json-serialize byok-e2e--results :false-object :json-false :null-object nil))))))

(defun byok-e2e--fail (message)
  (byok-e2e--put "error" message)
  (ignore-errors (byok-e2e--write))
  (princ (format "byok e2e failed: %s\n" message) #'external-debugging-output)
  (kill-emacs 1))

(defun byok-e2e--wait (what seconds done)
  "Process events until DONE returns non-nil; error naming WHAT after SECONDS."
  (let ((deadline (+ (float-time) seconds)))
    (while (not (funcall done))
      (when (> (float-time) deadline)
        (error "Timed out after %s s waiting for %s" seconds what))
      (accept-process-output nil 0.02))))

(defun byok-e2e--buffer-text (buffer)
  (with-current-buffer buffer
    (buffer-substring-no-properties (point-min) (point-max))))

(defun byok-e2e--await (what start)
  "Call START with an on-done callback (ERR RESULT) and wait for it; error on ERR."
  (let ((timeout (/ (plist-get byok-e2e--config :timeoutMs) 1000.0))
        done err result)
    (funcall start (lambda (e r) (setq done t err e result r)))
    (byok-e2e--wait what timeout (lambda () done))
    (when err
      (error "%s failed: %s" what (byok-format-error err)))
    result))

(defun byok-e2e--lsp-position-to-point (position)
  "The buffer position of an LSP POSITION (column 0 only, which is all the scenario uses)."
  (save-excursion
    (goto-char (point-min))
    (forward-line (plist-get position :line))
    (cl-assert (zerop (plist-get position :character)))
    (point)))

(defun byok-e2e--main ()
  (setq byok-e2e--config
        (with-temp-buffer
          (insert-file-contents (or (getenv "BYOK_E2E_CONFIG") (error "BYOK_E2E_CONFIG is not set")))
          (json-parse-buffer :object-type 'plist :array-type 'array
                             :null-object nil :false-object :json-false)))
  (let* ((config byok-e2e--config)
         (timeout (/ (plist-get config :timeoutMs) 1000.0)))
    (byok-e2e--put "emacsVersion" emacs-version)
    (run-at-time (/ (plist-get config :watchdogMs) 1000.0) nil
                 (lambda () (byok-e2e--fail "watchdog: the scenario did not finish in time")))

    ;; The snippet as users load it.
    (load (plist-get config :byokEl) nil t)
    (setq byok-server-command (append (plist-get config :cmd) nil)
          byok-settings (plist-get config :settings)
          byok-timeout timeout
          eglot-connect-timeout timeout)
    (byok-setup '(python-mode) t)

    ;; M-x eglot in the file's buffer; eglot connects asynchronously.
    (find-file (plist-get config :file))
    (apply #'eglot (eglot--guess-contact))
    (byok-e2e--wait "eglot to connect and manage the buffer" timeout
                    (lambda () (and (eglot-current-server) eglot--managed-mode)))
    (let* ((server (byok-server))
           (source-buffer (current-buffer))
           (commands (plist-get (plist-get (eglot--capabilities server) :executeCommandProvider) :commands)))
      (byok-e2e--put "commands" commands)

      ;; Keys: store, then verify against the loopback provider.
      (byok-e2e--put "setKey" (byok-set-key (plist-get config :provider) (plist-get config :key)))
      (byok-e2e--put "verifyKey" (byok-verify-key (plist-get config :provider)))

      ;; M-x byok-verify-key reports in the echo area.
      (let ((shown nil))
        (cl-letf* ((original (symbol-function 'message))
                   ((symbol-function 'message)
                    (lambda (format-string &rest args)
                      (when format-string (push (apply #'format-message format-string args) shown))
                      (apply original format-string args))))
          (funcall-interactively #'byok-verify-key (plist-get config :provider)))
        (byok-e2e--put "verifyCommandMessage" (mapconcat #'identity (reverse shown) "\n")))

      ;; Streamed chat: deltas arrive as byok/stream notifications before the result.
      (let ((deltas nil))
        (byok-e2e--put "chat"
                       (byok-e2e--await "byok.chat"
                                        (lambda (on-done)
                                          (byok-chat-request (list (list :role "user" :content "Say hi"))
                                                             :on-delta (lambda (text) (push text deltas))
                                                             :on-done on-done))))
        (byok-e2e--put "chatStreamed" (apply #'concat (reverse deltas)))
        (byok-e2e--put "chatDeltas" (length deltas)))

      ;; M-x byok-chat streams into *byok-chat*.
      (byok-chat "Say hi again")
      (byok-e2e--wait "byok-chat's answer in *byok-chat*" timeout
                      (lambda () (string-search (plist-get config :chatBufferExpect)
                                                (byok-e2e--buffer-text "*byok-chat*"))))
      (byok-e2e--put "chatBuffer" (byok-e2e--buffer-text "*byok-chat*"))

      ;; Inline edit: the WorkspaceEdit is applied to the buffer by eglot.
      (let ((registered (and (seq-contains-p commands "byok.inlineEdit") t)))
        (byok-e2e--put "inlineEditRegistered" (if registered t :json-false))
        (when registered
          (let* ((range (plist-get config :inlineEditRange))
                 (beg (byok-e2e--lsp-position-to-point (plist-get range :start)))
                 (end (byok-e2e--lsp-position-to-point (plist-get range :end)))
                 (deltas nil))
            (byok-e2e--put "inlineEdit"
                           (byok-e2e--await "byok.inlineEdit"
                                            (lambda (on-done)
                                              (byok-inline-edit-request
                                               beg end "Use an f-string"
                                               :on-delta (lambda (text) (push text deltas))
                                               :on-done on-done))))
            (byok-e2e--put "inlineEditStreamed" (apply #'concat (reverse deltas)))
            (byok-e2e--put "bufferAfterEdit" (byok-e2e--buffer-text source-buffer))
            (byok-e2e--put "modified" (if (buffer-modified-p source-buffer) t :json-false)))))

      ;; Clean shutdown: the server answers shutdown and exits.
      (eglot-shutdown server nil timeout t)
      (byok-e2e--put "serverStopped" (if (jsonrpc-running-p server) :json-false t)))))

(condition-case err
    (progn
      (byok-e2e--main)
      (byok-e2e--write)
      (kill-emacs 0))
  ((debug error) (byok-e2e--fail (error-message-string err))))

;;; e2e.el ends here
