"""`make demo`: the real app, a stand-in Slack and a web page that plays Slack for a demo
care team, all on this machine.

The page never talks to the app directly. Everything a person does in it becomes the
request Slack would send (signed slash commands, block_actions, view_submission, message
and app_home_opened events, to POST /slack/events), and everything the app does reaches the
page through the Web API calls it makes to the stand-in (`workspace.Workspace`), so nothing
in the app knows it is a demo.

    team.py       the demo people and channels
    workspace.py  the stand-in Slack with conversations: messages, threads, ephemerals, modals, Home, files
    clock.py      moving the app's clock with libfaketime (when installed)
    appproc.py    starting, stopping and resetting `python app.py`
    sandbox.py    what a person does in the page, as Slack's signed requests
    web.py        the page's HTTP server (static files and a small JSON API)
"""
