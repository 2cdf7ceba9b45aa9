"""The GitHub Action's logic (action.yml at the repository root runs `python -m reconciler.ci`).

`github` talks to GitHub's REST API (the one pull-request comment updated in place); `action` runs
plan or apply, writes the step outputs and the job summary, and posts the comment.
"""
