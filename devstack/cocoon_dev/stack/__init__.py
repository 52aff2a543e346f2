"""The whole provider stack in one command: `cocoon-dev up|down|status|logs|demo`.

It drives the other components only through their command lines (`cocoon-dev cluster|chain|runtime
... --json`), the real helm and kubectl binaries and `cocoon-operator run`, so it survives their
internal refactors. See docs/demo.md.
"""
