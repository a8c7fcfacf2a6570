;;; byok.el --- Bring-your-own-key AI through byok-server and eglot  -*- lexical-binding: t; -*-

;; Works with Emacs 28+ and eglot 1.9+ (Debian: emacs-nox elpa-eglot; Emacs 29+ ships eglot).
;;
;; Install: copy this file to ~/.emacs.d/lisp/byok.el, then in init.el:
;;
;;   (add-to-list 'load-path "~/.emacs.d/lisp")
;;   (require 'byok)
;;   (setq byok-server-command '("byok-server")   ; or ("/path/to/venv/bin/python" "-m" "byok")
;;         byok-settings                           ; the `byok' settings of protocol.md, as a plist
;;         '(:providers (:openai (:baseUrl "https://api.openai.com/v1"))
;;           :features (:chat "gpt-4.1-mini" :inlineEdit "gpt-4.1-mini")))
;;   (byok-setup '(python-mode js-mode) t)          ; the major modes byok serves; t: before other servers
;;   (add-hook 'python-mode-hook #'eglot-ensure)    ; or M-x eglot in a buffer
;;
;; Commands:
;;   M-x byok-set-key      asks for the key (hidden input), stores it in the OS keychain
;;   M-x byok-verify-key   checks the key with the provider's cheapest call, lists its models
;;   M-x byok-chat         streams the answer into *byok-chat*; follow-ups continue the chat
;;   M-x byok-chat-reset   starts a new chat
;;   M-x byok-inline-edit  rewrites the region (or inserts at point) per an instruction
;;
;; Keys never go into your config: they live in the OS keychain (or PROVIDER_API_KEY env variables).
;; eglot (up to 1.x) runs ONE server per buffer: in the modes you give `byok-setup', byok replaces
;; another language server.  Without PREFER, byok is added after the existing entries and serves only
;; the modes no other server claims.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'jsonrpc)

(defgroup byok nil
  "Bring-your-own-key AI through byok-server."
  :group 'tools)

(defcustom byok-server-command '("byok-server")
  "The byok-server command line."
  :type '(repeat string))

(defcustom byok-settings nil
  "The byok settings (see protocol.md) as a plist, e.g. (:features (:chat \"gpt-4.1-mini\")).
Sent as initializationOptions and answered for `workspace/configuration' section \"byok\"."
  :type 'sexp)

(defcustom byok-timeout 30
  "Seconds to wait for a synchronous byok command."
  :type 'number)

(defclass byok-eglot-server (eglot-lsp-server) ()
  :documentation "An eglot connection to byok-server.")

(defvar byok--streams (make-hash-table :test #'equal)
  "streamId -> function called with each `byok/stream' delta plist.")
(defvar byok--stream-counter 0)
(defvar byok--history nil "The *byok-chat* conversation, newest last.")

(cl-defmethod eglot-initialization-options ((_server byok-eglot-server))
  (list :byok (or byok-settings eglot--{})))

(cl-defmethod eglot-handle-request
  ((_server byok-eglot-server) (_method (eql workspace/configuration)) &key items)
  "Answer section \"byok\" from `byok-settings'."
  (apply #'vector
         (mapcar (lambda (item)
                   (if (equal (plist-get item :section) "byok") (or byok-settings eglot--{}) nil))
                 items)))

(cl-defmethod eglot-handle-notification
  ((_server byok-eglot-server) (_method (eql byok/stream)) &key streamId delta &allow-other-keys)
  "Hand a streamed delta to whoever started that stream."
  (let ((fn (gethash streamId byok--streams)))
    (when fn (funcall fn delta))))

(defun byok--contact (&optional _interactive)
  (cons 'byok-eglot-server byok-server-command))

(defun byok-setup (&optional modes prefer)
  "Serve MODES (default: prog-mode and text-mode) with byok through eglot.
With PREFER, byok comes before the other entries of `eglot-server-programs'."
  (let ((entry (cons (or modes '(prog-mode text-mode)) #'byok--contact)))
    (setq eglot-server-programs (cl-remove #'byok--contact eglot-server-programs :key #'cdr))
    (if prefer
        (push entry eglot-server-programs)
      (setq eglot-server-programs (append eglot-server-programs (list entry))))))

(defun byok-server ()
  "The byok eglot connection of the current buffer, or an error saying how to start it."
  (let ((server (eglot-current-server)))
    (unless (cl-typep server 'byok-eglot-server)
      (user-error "byok: this buffer is not managed by byok-server; run M-x eglot (see `byok-setup')"))
    server))

(defun byok-format-error (err)
  "One readable line from a JSON-RPC error plist (or a `jsonrpc-error' condition)."
  (let* ((obj (if (eq (car-safe err) 'jsonrpc-error)
                  (list :message (alist-get 'jsonrpc-error-message (cdr err))
                        :data (alist-get 'jsonrpc-error-data (cdr err)))
                err))
         (data (plist-get obj :data))
         (code (and (listp data) (plist-get data :code)))
         (fix (and (listp data) (plist-get data :fix))))
    (let ((message (or (plist-get obj :message) (format "%S" err))))
      (concat (if code (format "%s: " code) "")
              message
              (if (and (stringp fix) (not (string-search fix message))) (format " Fix: %s" fix) "")))))

(defun byok-execute (command &optional arg)
  "Run byok COMMAND with its one object ARG (a plist) and return its result; errors are readable."
  (condition-case err
      (jsonrpc-request (byok-server) :workspace/executeCommand
                       (list :command command :arguments (vector (or arg eglot--{})))
                       :timeout byok-timeout)
    (jsonrpc-error (user-error "byok: %s" (byok-format-error err)))))

(cl-defun byok-execute-async (command arg &key on-delta on-done)
  "Run byok COMMAND with ARG; stream text deltas to ON-DELTA; then call ON-DONE with (ERR RESULT)."
  (let* ((stream-id (format "emacs-%d-%d" (emacs-pid) (cl-incf byok--stream-counter)))
         (finish (lambda (err result)
                   (remhash stream-id byok--streams)
                   (when on-done (funcall on-done err result)))))
    (puthash stream-id
             (lambda (delta)
               (when (and on-delta (equal (plist-get delta :type) "text"))
                 (funcall on-delta (plist-get delta :text))))
             byok--streams)
    (jsonrpc-async-request
     (byok-server) :workspace/executeCommand
     (list :command command :arguments (vector (append arg (list :streamId stream-id))))
     :success-fn (lambda (result) (funcall finish nil result))
     :error-fn (lambda (err) (funcall finish err nil))
     :timeout-fn (lambda () (funcall finish (list :message (format "%s timed out" command)) nil))
     :timeout 600)
    stream-id))

(defun byok-set-key (provider key)
  "Store KEY for PROVIDER in the OS keychain (through byok-server)."
  (interactive (let ((provider (read-string "Provider: ")))
                 (list provider (read-passwd (format "API key for %s: " provider)))))
  (let ((result (byok-execute "byok.setKey" (list :provider provider :key key))))
    (when (called-interactively-p 'any)
      (message "byok: stored key %s for %s" (plist-get result :fingerprint) provider))
    result))

(defun byok-verify-key (provider)
  "Check PROVIDER's key with its cheapest call and show the models it can use."
  (interactive (list (read-string "Provider: ")))
  (let ((result (byok-execute "byok.verifyKey" (list :provider provider))))
    (when (called-interactively-p 'any)
      (if (eq (plist-get result :ok) t)
          (message "byok: %s key %s works (%d models, %s ms)" provider (plist-get result :fingerprint)
                   (length (plist-get result :models)) (plist-get result :latencyMs))
        (message "byok: %s" (byok-format-error (list :message (plist-get (plist-get result :error) :message)
                                                      :data (plist-get result :error))))))
    result))

(cl-defun byok-chat-request (messages &key model on-delta on-done)
  "Streamed chat over MESSAGES (a list of (:role R :content C) plists).
ON-DELTA gets each text delta; ON-DONE gets (ERR RESULT)."
  (byok-execute-async "byok.chat"
                      (append (list :messages (vconcat messages)) (and model (list :model model)))
                      :on-delta on-delta :on-done on-done))

(defun byok--chat-insert (buffer text)
  (with-current-buffer buffer
    (save-excursion
      (goto-char (point-max))
      (insert text))))

(defun byok-chat (prompt)
  "Ask PROMPT; the answer streams into *byok-chat*, and follow-ups continue the conversation."
  (interactive "sAsk byok: ")
  (byok-server) ; fail early, before touching the chat buffer
  (let ((buffer (get-buffer-create "*byok-chat*")))
    (setq byok--history (append byok--history (list (list :role "user" :content prompt))))
    (byok--chat-insert buffer (format "%s## You\n%s\n\n## byok\n"
                                      (if (> (buffer-size buffer) 0) "\n\n" "") prompt))
    (unless noninteractive (display-buffer buffer))
    (byok-chat-request byok--history
                         :on-delta (lambda (text) (byok--chat-insert buffer text))
                         :on-done (lambda (err result)
                                    (if err
                                        (progn (setq byok--history (butlast byok--history))
                                               (byok--chat-insert buffer (concat "\n[error] "
                                                                                 (byok-format-error err))))
                                      (setq byok--history
                                            (append byok--history
                                                    (list (list :role "assistant"
                                                                :content (plist-get result :text))))))))))

(defun byok-chat-reset ()
  "Start a new chat."
  (interactive)
  (setq byok--history nil)
  (when (get-buffer "*byok-chat*")
    (with-current-buffer "*byok-chat*" (erase-buffer))))

(defun byok--apply-workspace-edit (edit)
  "Apply the WorkspaceEdit EDIT with eglot (1.9 takes (EDIT &optional CONFIRM), later (EDIT ORIGIN))."
  (if (>= (car (func-arity #'eglot--apply-workspace-edit)) 2)
      (eglot--apply-workspace-edit edit 'byok)
    (eglot--apply-workspace-edit edit)))

(cl-defun byok-inline-edit-request (beg end instruction &key model on-delta on-done)
  "Inline edit of BEG..END in the current buffer (BEG = END inserts there) per INSTRUCTION.
The WorkspaceEdit is applied to the buffer, then ON-DONE gets (ERR RESULT)."
  (let ((range (list :start (eglot--pos-to-lsp-position beg) :end (eglot--pos-to-lsp-position end))))
    (byok-execute-async
     "byok.inlineEdit"
     (append (list :uri (eglot--path-to-uri (buffer-file-name)) :range range :instruction instruction)
             (and model (list :model model)))
     :on-delta on-delta
     :on-done (lambda (err result)
                (unless err
                  (condition-case apply-err
                      (byok--apply-workspace-edit (plist-get result :edit))
                    (error (setq err (list :message (format "could not apply the edit: %s"
                                                            (error-message-string apply-err)))))))
                (cond (on-done (funcall on-done err result))
                      (err (message "byok: %s" (byok-format-error err)))
                      (t (message "byok: edited with %s" (plist-get result :model))))))))

(defun byok-inline-edit (beg end instruction)
  "Rewrite the region BEG..END (or insert at point) per INSTRUCTION."
  (interactive (append (if (use-region-p) (list (region-beginning) (region-end)) (list (point) (point)))
                       (list (read-string "Edit instruction: "))))
  (byok-inline-edit-request beg end instruction))

(provide 'byok)
;;; byok.el ends here
