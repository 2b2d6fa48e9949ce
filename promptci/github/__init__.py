"""The only door to GitHub: the Actions environment, the REST client, and publishing a result.

`actions` reads the run (event payload, token, file-command paths); `client` speaks REST with
retries; `pulls` holds the endpoints used on a pull request; `workflow` writes outputs, the summary
and annotations; `suggestions` turns a better prompt into review suggestion blocks; `publish` puts
it all together in an order that never loses the report.
"""
