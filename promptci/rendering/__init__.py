"""The report of a run: Jinja2 templates for the pull-request comment, the job summary and the terminal.

`escape` makes text from a pull request safe to put into Markdown.
"""
