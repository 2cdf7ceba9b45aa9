"""`python -m reconciler.ci`: the GitHub Action's run step."""

from reconciler.ci.action import main

raise SystemExit(main())
