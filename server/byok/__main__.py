"""`python -m byok` starts the language server (the same as `byok-server`)."""

from byok.lsp.server import main

if __name__ == "__main__":
    main()
