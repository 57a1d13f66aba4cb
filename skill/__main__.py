"""`python -m skill`: the same command line as `aftercare`."""

from skill.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
