"""The HIL suite: runs only with `--lab`; without it every test skips with one reason."""
