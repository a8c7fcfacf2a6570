"""`python -m byok` starts the language server (the same as `byok-server`)."""

from byok.server import main

if __name__ == "__main__":
    main()
